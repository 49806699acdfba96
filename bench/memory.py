"""Memory retrieval on LoCoMo conversations (`overlay eval memory`), as a user runs it: each
conversation ingested into its own overlay with the default embedder, every question with
evidence ranked by BM25 over stems (the lexical list alone), the dense list alone, hybrid
search and the full ask. Evidence recall@5/@10 and nDCG@10 at turn and session level, per
category, with p50 times.

Run: python bench/memory.py [--data ../shared/benchmarks/locomo-dev.json] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import save
from overlay import Overlay, Settings
from overlay.evaluate.memory import evaluate, load
from overlay.progress import Progress

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "locomo-dev.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--limit", type=int, default=None, help="only the first N conversations")
    parser.add_argument("--embedder", default="auto")
    args = parser.parse_args()
    samples = load(args.data)[: args.limit]

    def tick(stage: str, done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            print(f"{time.strftime('%H:%M:%S')} {stage} {done}/{total}", flush=True)

    progress: Progress = tick
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, Overlay(
            settings=Settings.make(db=Path(tmp) / "models.db",
                                   retrieve={"embedder": args.embedder}), create=True) as ov:
        result = evaluate(ov, samples, progress)
    result["data"] = args.data.name
    result["seconds"] = round(time.perf_counter() - t0, 1)
    save("memory", result)


if __name__ == "__main__":
    main()
