"""The edit benchmark (`overlay eval edits`) on all records of a CounterFact-format file,
sequential: every edit learned into one overlay, then every record evaluated. Reliability,
generalization and locality of the overlay and of the bare model, learn and eval latency.

Run: python bench/edits.py [--data ../shared/benchmarks/counterfact-1k.json] [--limit N]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-edits-"))
    try:
        t0 = time.perf_counter()
        with Overlay(tmp / "empty.db") as overlay:
            result = evaluate(overlay, load(args.data, args.limit), sequential=True)
        result["total_s"] = round(time.perf_counter() - t0, 1)
        result["data"] = args.data.name
        save("edits", result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
