"""Imprint on CPU: time and peak memory to train a LoRA on examples/passport.yaml (all four
modules, 33 nodes) with the default model, and the self-tests before and after, with locality.

Run: python bench/imprint.py [--epochs 1]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import save
from overlay.config import LMConfig
from overlay.dataset import build
from overlay.evaluate.selftest import Arm, evaluate, load_tests
from overlay.plugins import load_lm, load_plugins
from overlay.train import LoraSettings, train_lora

ROOT = Path(__file__).resolve().parents[1]


def summary(r: dict) -> dict:
    keep = ("match", "choose", "paraphrase", "stable")
    return {**{k: r[k] for k in keep}, "locality": r.get("locality")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        built = build(ROOT / "examples" / "passport.yaml", work / "ds")
        nodes = built.report.counted["nodes"]
        items = sum(1 for i in built.built.items if i.text is None)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        record = train_lora(work / "ds", work / "adapter", LoraSettings(epochs=args.epochs))
        train_s = time.perf_counter() - t0
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        plugins = load_plugins()
        bare = load_lm(LMConfig(), plugins)
        inside = load_lm(LMConfig(adapter=work / "adapter"), plugins)
        t0 = time.perf_counter()
        results = evaluate(load_tests(work / "ds"), [Arm("bare", bare), Arm("adapter", inside)])
        eval_s = time.perf_counter() - t0
    save("imprint", {
        "dataset": "examples/passport.yaml",
        "nodes": nodes,
        "items": items,
        "epochs": args.epochs,
        "steps": record["steps"],
        "train_s": round(train_s, 1),
        "s_per_step": round(train_s / max(record["steps"], 1), 2),
        "peak_rss_mib": round(peak_mib),
        "rss_before_training_mib": round(rss_before / 1024),
        "loss_first": round(record["first_loss"], 3),
        "loss_last": round(record["last_loss"], 3),
        "self_tests": results[0]["n"],
        "before": summary(results[0]),
        "after": summary(results[1]),
        "eval_s": round(eval_s, 1),
    })


if __name__ == "__main__":
    main()
