"""The edit benchmark (`overlay eval edits`) on all records of a CounterFact-format file,
sequential: every edit learned into one overlay, then every record evaluated. Reliability,
generalization and locality of the overlay and of the bare model in the headline, WISE/GRACE
and CounterFact conventions, learn and eval latency.

With `--report-half` every record is learned and only the second half is measured: the rule
for what a statement is about (`overlay.retrieve.about`) was worked out on the first half of
the dev CounterFact file (records 0-499) and is reported on the second (500-999).

Run: python bench/edits.py --report-half [--no-wise]     (counterfact-1k.json)
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
    ap.add_argument("--report-half", action="store_true",
                    help="learn every record, measure the second half (the first tuned)")
    ap.add_argument("--no-wise", action="store_true",
                    help="skip the WISE/GRACE convention (it generates answers: 2-3x slower)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-edits-"))
    try:
        t0 = time.perf_counter()
        records = load(args.data, args.limit)
        n = len(records)
        measure = {"report": list(range(n // 2, n))} if args.report_half else None
        with Overlay(tmp / "empty.db") as overlay:
            result = evaluate(overlay, records, sequential=True, progress=report,
                              wise=not args.no_wise, measure=measure)
        if measure:
            result["measured_records"] = f"{n // 2}-{n - 1} (tuned on 0-{n // 2 - 1})"
        result["total_s"] = round(time.perf_counter() - t0, 1)
        result["data"] = args.data.name
        result["limit"] = args.limit
        save(args.name, result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
