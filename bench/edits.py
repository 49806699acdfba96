"""The edit benchmark (`overlay eval edits`) on all records of a CounterFact-format file,
sequential: every edit learned into one overlay, then every record evaluated. Reliability,
generalization and locality of the overlay and of the bare model in the headline, WISE/GRACE
and CounterFact conventions, learn and eval latency.

Run: python bench/edits.py [--data ../shared/benchmarks/counterfact-1k.json] [--limit N]
     python bench/edits.py --data ../shared/benchmarks/zsre-dev.json --name edits-zsre
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import save
from overlay import Overlay
from overlay.evaluate.edits import evaluate, load

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "counterfact-1k.json"


def report(stage: str, done: int, total: int) -> None:
    """Progress on stderr every 50 records (a run takes tens of minutes)."""
    if done % 50 == 0 or done == total:
        print(f"{time.strftime('%H:%M:%S')} {stage} {done}/{total}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--name", default="edits", help="bench/results/NAME.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-edits-"))
    try:
        t0 = time.perf_counter()
        with Overlay(tmp / "empty.db") as overlay:
            result = evaluate(overlay, load(args.data, args.limit), sequential=True,
                              progress=report)
        result["total_s"] = round(time.perf_counter() - t0, 1)
        result["data"] = args.data.name
        save(args.name, result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
