"""The lab: the same knowledge delivered four ways, side by side (the arms of
`overlay.evaluate.arms`).

- **bare**: the base model, nothing added;
- **outside**: the overlay's selector over the base model;
- **inside**: a LoRA imprint (the fine-tuning baseline);
- **both**: the selector over the imprinted model.

Two tests. First, the dataset's self-tests: match, choose, reworded choose, stability,
locality. Second, knowledge edits on CounterFact-format records (reliability, generalization,
locality). For edits, *outside* learns each record as a statement in an empty overlay, and
*inside* trains a LoRA on the records as completions. The report gives the time to learn per
fact and the latency per choice for each arm, and writes `compare.json`, `compare.md` and two
plots.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from overlay.engine import Overlay
from overlay.evaluate import edits as edit_bench
from overlay.evaluate.arms import ARMS
from overlay.evaluate.arms import build as build_arms
from overlay.evaluate.selftest import evaluate, load_tests
from overlay.files import write_atomic
from overlay.lm.base import LM
from overlay.progress import Progress
from overlay.train.lora import LoraSettings, train_lora, train_pairs

LoadLM = Callable[[Path], LM]  # an adapter folder → the base model with it applied


def choice(lm: LM, prompt: str, a: str, b: str) -> str:
    """Which of two completions the model prefers after `prompt` (mean token log-prob)."""
    scored = lm.score(prompt, [" " + a.strip(), " " + b.strip()])
    return a if scored[0].normalised(1.0) >= scored[1].normalised(1.0) else b


def _model_edits(
    lm: LM, records: list[edit_bench.Record], before: list[str]
) -> dict[str, Any]:
    rel: list[bool] = []
    gen: list[bool] = []
    loc: list[bool] = []
    seconds: list[float] = []
    for r, old in zip(records, before, strict=True):
        for prompt, hits in ((r.prompt, rel), (r.rephrase_prompt, gen)):
            t0 = time.perf_counter()
            hits.append(choice(lm, prompt, r.target_new, r.ground_truth) == r.target_new)
            seconds.append(time.perf_counter() - t0)
        loc.append(choice(lm, r.locality_prompt, r.target_new, r.ground_truth) == old)
    return {
        "reliability": round(sum(rel) / len(rel), 4),
        "generalization": round(sum(gen) / len(gen), 4),
        "locality": round(sum(loc) / len(loc), 4),
        "eval_ms_p50": round(1000 * statistics.median(seconds), 2),
    }


def _overlay_edits(
    overlay: Overlay, lm: LM, records: list[edit_bench.Record], tick: Progress
) -> dict[str, Any]:
    found = edit_bench.evaluate(overlay, records, True, tick, lm=lm, empty=True)
    return {**found["overlay"], "eval_ms_p50": found["eval_ms_p50"],
            "learn_ms_per_fact": found["learn_ms_p50"]}


def compare(
    dataset: Path,
    edits_file: Path,
    overlay: Overlay,
    load: LoadLM,
    work: Path,
    settings: LoraSettings,
    records: int = 200,
    adapter: Path | None = None,
    edit_epochs: float = 3.0,
    progress: Progress | None = None,
    probes: bool = True,
) -> dict[str, Any]:
    """Run the lab; `overlay` holds the dataset's knowledge (its notes) and the base model.
    `probes=False` skips the reworded and locality probes of the self-test part."""
    tick = progress or (lambda *_: None)
    bare = overlay.lm
    work.mkdir(parents=True, exist_ok=True)
    train_s = None
    if adapter is None:
        adapter = work / "adapter"
        if not (adapter / "overlay_adapter.json").exists():
            t0 = time.perf_counter()
            train_lora(dataset, adapter, settings, progress)
            train_s = round(time.perf_counter() - t0, 1)
    inside = load(adapter)
    with build_arms(bare, inside, overlay) as arms:
        tests = load_tests(dataset)
        selftests = {r["arm"]: {k: r.get(k) for k in ("n", "match", "choose", "paraphrase",
                                                      "stable", "locality", "modules")}
                     for r in evaluate(tests, arms, progress, paraphrase=probes, locality=probes)}
    facts = edit_bench.load(edits_file, records)
    before = [choice(bare, r.locality_prompt, r.target_new, r.ground_truth) for r in facts]
    pairs = [{"prompt": r.prompt, "completion": " " + r.target_new.strip()} for r in facts]
    edit_adapter = work / "edits-adapter"
    t0 = time.perf_counter()
    if not (edit_adapter / "overlay_adapter.json").exists():
        train_pairs(pairs, edit_adapter, settings.model_copy(update={"epochs": edit_epochs}),
                    {"edits": str(edits_file), "records": len(facts)}, progress)
    learn_inside = (time.perf_counter() - t0) * 1000 / len(facts)
    edited = load(edit_adapter)
    edits = {
        "bare": {**_model_edits(bare, facts, before), "learn_ms_per_fact": 0.0},
        "outside": _overlay_edits(overlay, bare, facts, tick),
        "inside": {**_model_edits(edited, facts, before),
                   "learn_ms_per_fact": round(learn_inside, 1)},
        "both": _overlay_edits(overlay, edited, facts, tick),
    }
    # both holds each fact twice: its learning time is the LoRA's share plus the overlay's
    edits["both"]["learn_ms_per_fact"] = round(
        edits["both"]["learn_ms_per_fact"] + learn_inside, 1)
    result = {
        "dataset": str(dataset),
        "edits": str(edits_file),
        "records": len(facts),
        "adapter": str(adapter),
        "adapter_train_s": train_s,
        "edits_adapter": str(edit_adapter),
        "selftests": selftests,
        "edit_results": edits,
    }
    write_atomic(work / "compare.json", json.dumps(result, indent=2) + "\n")
    write_atomic(work / "compare.md", report(result))
    plots(result, work)
    return result


def report(result: dict[str, Any]) -> str:
    """The lab's two tables in Markdown."""
    lines = ["## Self-tests", "",
             "| arm | match | choose | reworded | stable | locality agreement | ΔCE |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for arm, r in result["selftests"].items():
        loc = r.get("locality") or {}
        lines.append(f"| {arm} | {r['match']} | {r['choose']} | {r['paraphrase']} | "
                     f"{r['stable']} | {loc.get('agreement', '')} | "
                     f"{loc.get('cross_entropy_change', '')} |")
    lines += ["", f"## Edits ({result['records']} CounterFact records)", "",
              "| arm | reliability | generalization | locality | learn ms / fact | "
              "choice ms p50 |", "|---|---:|---:|---:|---:|---:|"]
    for arm, r in result["edit_results"].items():
        lines.append(f"| {arm} | {r['reliability']} | {r['generalization']} | {r['locality']} "
                     f"| {r['learn_ms_per_fact']} | {r['eval_ms_p50']} |")
    return "\n".join(lines) + "\n"


def plots(result: dict[str, Any], work: Path) -> list[Path]:
    """Grouped bar charts of both tests (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    for name, data, metrics in (
        ("selftests", result["selftests"], ("match", "choose", "paraphrase")),
        ("edits", result["edit_results"], ("reliability", "generalization", "locality")),
    ):
        fig, ax = plt.subplots(figsize=(7, 3.6))
        width = 0.8 / len(metrics)
        for k, metric in enumerate(metrics):
            values = [data[a][metric] or 0 for a in ARMS]
            ax.bar([i + k * width for i in range(len(ARMS))], values, width, label=metric)
        ax.set_xticks([i + width * (len(metrics) - 1) / 2 for i in range(len(ARMS))], ARMS)
        ax.set_ylim(0, 1)
        ax.set_title(f"{name}: bare, outside (overlay), inside (LoRA), both")
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        path = work / f"{name}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        made.append(path)
    return made
