"""Ask latency (p50/p95) in statement and compose modes, on the example vault and on a 10k-note
synthetic vault (the example vault inside 10,000 generated notes), with the default LM and
the default embedder; and the cost per generated token of the overlay logits processor against plain
`generate` on the same prompt and the same number of tokens.

Statement mode is also timed by the old path (`select.lm_at_ask: always`, the LM term computed
at every ask) in the same run, on the same store and models.

Run: python bench/ask.py [--notes 10000 (0: the example vault only)] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import DATA, percentiles, save
from ingest import make_vault
from overlay import Overlay, Settings
from overlay.lm.hf import HFModel, load_default
from overlay.select.decoding import StatementIndex, processors

os.environ.setdefault("HF_HUB_OFFLINE", "1")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vault"
QUESTIONS = [
    "How do I keep a sourdough starter alive?",
    "What does the float test tell me?",
    "How long should bulk fermentation take?",
    "Why is my bread dense and flat?",
    "What is a levain and when do I build it?",
    "How do I shape a loaf?",
    "What is hooch on a starter?",
    "Why bake in a Dutch oven?",
]


class NoEos:
    """Keeps generation going so both arms produce the same number of tokens."""

    def __init__(self, eos: int) -> None:
        self.eos = eos

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.clone()  # the model's scores are inference tensors: not written in place
        scores[:, self.eos] = -float("inf")
        return scores


def open_vault(db: Path, lm: HFModel, vault: Path) -> Overlay:
    overlay = Overlay(settings=Settings.make(db=db))
    overlay.lm = lm
    if not db.exists() or overlay.stats()["nodes"] == 0:
        t0 = time.perf_counter()
        overlay.ingest([vault])
        print(f"ingested {vault} in {time.perf_counter() - t0:.0f} s", flush=True)
    return overlay


def always(overlay: Overlay) -> Overlay:
    """The same store and models with the old path: the LM term computed at every ask."""
    select = overlay.settings.select.model_copy(update={"lm_at_ask": "always"})
    return Overlay(settings=overlay.settings.model_copy(update={"select": select}),
                   models=overlay.models, create=False)


def latency(overlay: Overlay, repeats: int) -> dict[str, Any]:
    """p50/p95 per mode; statement mode also by the old path (the LM term at every ask), in
    the same run, with the ratio of their medians."""
    out: dict[str, Any] = {}
    with always(overlay) as old:
        arms = {"statement": overlay, "statement_lm_always": old, "compose": overlay}
        for ov in (overlay, old):
            ov.ask(QUESTIONS[0])  # warm: embedder, index, caches, priors
        for arm, ov in arms.items():
            samples = []
            for _ in range(repeats):
                for q in QUESTIONS:
                    t0 = time.perf_counter()
                    trace = ov.ask(q, mode="compose" if arm == "compose" else "statement")
                    samples.append(time.perf_counter() - t0)
                    assert trace.known, q
            out[arm] = percentiles(samples)
    out["statement_speedup"] = round(out["statement_lm_always"]["p50_ms"]
                                     / out["statement"]["p50_ms"], 1)
    return out


def processor_overhead(overlay: Overlay, lm: HFModel, tokens: int) -> dict[str, float]:
    trace = overlay.ask(QUESTIONS[0])
    chosen = [(c.node_id or "", c.text) for c in trace.chosen]
    notes = "\n".join(f"- {t}" for _, t in chosen)
    prompt = lm.chat_template(
        [
            {"role": "system", "content": f"Answer using only these notes:\n{notes}"},
            {"role": "user", "content": QUESTIONS[0]},
        ]
    )
    index = StatementIndex.build(lm, chosen, overlay.settings.select.connectives)
    arms = {
        "plain": lambda: [NoEos(lm.eos_token_id)],
        "overlay_bias": lambda: [*processors(lm, index, 0.5, False), NoEos(lm.eos_token_id)],
        "strict": lambda: [*processors(lm, index, 0.5, True), NoEos(lm.eos_token_id)],
    }
    per_token: dict[str, list[float]] = {k: [] for k in arms}
    lm.generate(prompt, arms["plain"](), max_tokens=4)
    for _ in range(3):
        for name, make in arms.items():
            gen = lm.generate(prompt, make(), max_tokens=tokens)
            assert len(gen.token_ids) == tokens, (name, len(gen.token_ids))
            per_token[name].append(gen.seconds / tokens)
    med = {k: statistics.median(v) for k, v in per_token.items()}
    return {
        "tokens": tokens,
        "plain_ms_per_token": round(1000 * med["plain"], 2),
        "overlay_ms_per_token": round(1000 * med["overlay_bias"], 2),
        "strict_ms_per_token": round(1000 * med["strict"], 2),
        "overlay_over_plain": round(med["overlay_bias"] / med["plain"], 3),
        "strict_over_plain": round(med["strict"] / med["plain"], 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notes", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    args = ap.parse_args()
    lm = load_default()
    DATA.mkdir(parents=True, exist_ok=True)
    runs = []
    small_db = DATA / "ask-example.db"
    for leftover in DATA.glob("ask-example.db*"):
        leftover.unlink()
    with open_vault(small_db, lm, EXAMPLE) as overlay:
        embedder = overlay.embedder.name if overlay.embedder else "none"
        overhead = processor_overhead(overlay, lm, args.tokens)
        print(overhead, flush=True)
        runs.append(
            {
                "vault": "examples/vault",
                "nodes": overlay.stats()["nodes"],
                **latency(overlay, args.repeats),
            }
        )
        print(runs[-1], flush=True)
    big = DATA / f"ask-vault-{args.notes}"
    if args.notes <= 0:
        pass
    elif not (big / "example").exists():
        shutil.rmtree(big, ignore_errors=True)
        make_vault(big, args.notes)
        shutil.copytree(EXAMPLE, big / "example")
    if args.notes > 0:
        with open_vault(DATA / f"ask-{args.notes}.db", lm, big) as overlay:
            runs.append(
                {
                    "vault": f"{args.notes:,} synthetic notes + examples/vault",
                    "nodes": overlay.stats()["nodes"],
                    **latency(overlay, args.repeats),
                }
            )
            print(runs[-1], flush=True)
        embedder = overlay.embedder.name if overlay.embedder else "none"
    save(
        "ask",
        {
            "model": lm.name,
            "embedder": embedder,
            "questions": len(QUESTIONS),
            "repeats": args.repeats,
            "runs": runs,
            "processor_overhead": overhead,
        },
    )


if __name__ == "__main__":
    main()
