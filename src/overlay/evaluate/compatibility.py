"""The compatibility matrix: does a new LoRA conflict with the old one?

For the chosen modules, one adapter is trained per module. Then, for every ordered pair (A, B),
A's adapter keeps training on B (B imprinted after A), and for every unordered pair the two
separate adapters are combined with PEFT (`add_weighted_adapter`, concatenated). Every module's
self-tests (choose-style, against their distractors) run under each condition. The question the
table answers is: what are A's self-tests worth after B went in, in sequence or merged?
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from overlay.errors import ConfigError
from overlay.evaluate.arms import Arm
from overlay.evaluate.selftest import load_tests, run
from overlay.files import write_atomic
from overlay.progress import Progress
from overlay.train.lora import LoraSettings, train_lora

LoadLM = Callable[[list[Path]], Any]  # adapters → an LM (no adapters: the base model)


def matrix(
    dataset: Path,
    modules: list[str],
    settings: LoraSettings,
    work: Path,
    load: LoadLM,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train, combine and test; writes `work/matrix.json` and `work/matrix.md`."""
    if len(modules) < 2 or len(set(modules)) < len(modules):
        raise ConfigError("give two or more different --module values")
    tests = {m: load_tests(dataset, m) for m in modules}
    if any(not any(t.distractors for t in ts) for ts in tests.values()):
        raise ConfigError("every module needs self-tests with distractors to be scored")
    solo = {}
    for m in modules:
        solo[m] = work / f"solo-{m}"
        if not (solo[m] / "overlay_adapter.json").exists():
            train_lora(dataset, solo[m], settings.model_copy(update={"module": m}), progress)
    conditions: dict[str, list[Path]] = {"base": []}
    conditions.update({f"{m} only": [solo[m]] for m in modules})
    for a, b in itertools.permutations(modules, 2):
        seq = work / f"seq-{a}-then-{b}"
        if not (seq / "overlay_adapter.json").exists():
            train_lora(dataset, seq, settings.model_copy(update={"module": b}), progress,
                       start_from=solo[a])
        conditions[f"{a} then {b}"] = [seq]
    for a, b in itertools.combinations(modules, 2):
        conditions[f"{a} + {b} merged"] = [solo[a], solo[b]]
    choose: dict[str, dict[str, float | None]] = {}
    for name, adapters in conditions.items():
        lm = load(adapters)
        choose[name] = {m: run(tests[m], Arm(name, lm), progress, free=False)["choose"]
                        for m in modules}
    result = {
        "dataset": str(dataset),
        "modules": modules,
        "settings": settings.model_dump(mode="json"),
        "choose": choose,
        "pairs": [
            {
                "first": a,
                "then": b,
                "first_alone": choose[f"{a} only"][a],
                "first_after_then": choose[f"{a} then {b}"][a],
                "then_after": choose[f"{a} then {b}"][b],
                "first_merged": choose[_merged(a, b, modules)][a],
                "then_merged": choose[_merged(a, b, modules)][b],
            }
            for a, b in itertools.permutations(modules, 2)
        ],
    }
    work.mkdir(parents=True, exist_ok=True)
    write_atomic(work / "matrix.json", json.dumps(result, indent=2) + "\n")
    write_atomic(work / "matrix.md", table(result))
    return result


def _merged(a: str, b: str, modules: list[str]) -> str:
    x, y = sorted((a, b), key=modules.index)
    return f"{x} + {y} merged"


def table(result: dict[str, Any]) -> str:
    """Choose-style self-test pass rate of every module (columns) under every condition."""
    modules = result["modules"]
    lines = ["| condition | " + " | ".join(modules) + " |",
             "|---|" + "---:|" * len(modules)]
    for name, rates in result["choose"].items():
        cells = " | ".join("–" if rates[m] is None else f"{rates[m]:.2f}" for m in modules)
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines) + "\n"
