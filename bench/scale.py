"""Edits at scale: the first 200 records of the dev CounterFact 1k are learned, then all 10,000
of counterfact-10k (disjoint from the dev file), sequentially into one overlay with the default
model and embedder — `overlay eval edits`' own path. Then a seeded random 500 of the 10,000 are
measured, and the 200 learned first (forgetting): reliability, generalization and locality in
the headline and CounterFact conventions (WISE/GRACE's generated answers are left out: they
would double a run of about half an hour). Learn latency over the first and the last thousand
learns, and the store's size at the end.

Run: python bench/scale.py [--first 200] [--sample 500] [--seed 0] [--limit N]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import save
from edits import report
from overlay import Overlay
from overlay.evaluate.edits import evaluate, load

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", type=Path, default=SHARED / "counterfact-1k.json")
    ap.add_argument("--data", type=Path, default=SHARED / "counterfact-10k.json")
    ap.add_argument("--first", type=int, default=200, help="dev records learned first")
    ap.add_argument("--sample", type=int, default=500, help="of --data, measured")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="first N records of --data")
    args = ap.parse_args()
    first = load(args.dev, args.first)
    rest = load(args.data, args.limit)
    records = first + rest
    sample = random.Random(args.seed).sample(range(len(rest)), min(args.sample, len(rest)))
    measure = {"first_learned": list(range(len(first))),
               "sample": sorted(len(first) + i for i in sample)}
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        t0 = time.perf_counter()
        with Overlay(tmp / "empty.db") as overlay:
            result = evaluate(overlay, records, True, report, wise=False, measure=measure)
        result["total_s"] = round(time.perf_counter() - t0, 1)
        result["data"] = f"{args.dev.name}[:{len(first)}] then {args.data.name}"
        result["seed"] = args.seed
        save("scale", result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
