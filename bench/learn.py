"""Learning speed and exactness: feedback events per second (batched, one event each),
learn-to-usable latency (the statement is searchable and its vector indexed when `learn`
returns; MiniLM embedding included), and undo exactness over 10k random events.

Run: python bench/learn.py [--feedback 10000] [--learns 200] [--undo 10000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import save
from overlay import Overlay, Settings
from overlay.graph import new_id
from overlay.trace import Span, Trace

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vault"


def synthetic_traces(ov: Overlay, n: int, rng: random.Random) -> list[str]:
    """n stored traces, each citing two random nodes (as asks would)."""
    ids = [node.id for node in ov.store.iter_nodes()]
    out = []
    with ov.batch():
        for _ in range(n):
            a, b = rng.sample(ids, 2)
            trace = Trace(
                new_id(),
                "ask",
                "q",
                "answer",
                "statement",
                "bench",
                "x",
                spans=[Span(0, 1, "x", [a]), Span(1, 2, "y", [b])],
            )
            out.append(ov.record(trace).id)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feedback", type=int, default=10_000)
    ap.add_argument("--learns", type=int, default=200)
    ap.add_argument("--undo", type=int, default=10_000)
    args = ap.parse_args()
    rng = random.Random(3)
    tmp = Path(tempfile.mkdtemp(prefix="bench-learn-"))
    try:
        with Overlay(tmp / "o.db") as ov:
            ov.ingest([EXAMPLE])
            traces = synthetic_traces(ov, args.feedback, rng)
            verdicts = [(t, rng.choice(["good", "bad"])) for t in traces]
            t0 = time.perf_counter()
            with ov.batch():  # a day's verdicts committed together, each its own event
                for trace_id, verdict in verdicts:
                    ov.feedback(trace_id, verdict)
            feedback_s = time.perf_counter() - t0

            ov.learn("warm up the embedder")
            latencies = []
            for i in range(args.learns):
                text = (
                    f"Starter number {i} smells of {rng.choice(['apples', 'yogurt', 'vinegar'])}."
                )
                t0 = time.perf_counter()
                done = ov.learn(text)
                latencies.append(time.perf_counter() - t0)
                if i % 50 == 0:  # usable: found by search right after learn returns
                    assert done["id"] in [h.node_id for h in ov.search(text, 3)]

        with Overlay(
            settings=Settings.make(db=tmp / "u.db", retrieve={"embedder": "hashing"})
        ) as ov:
            ov.ingest([EXAMPLE])
            traces = synthetic_traces(ov, args.undo, rng)
            before = ov.store.all_counts()
            with ov.batch():
                for t in traces:
                    ov.feedback(t, rng.choice(["good", "bad"]))
            during = ov.store.all_counts()
            events = [r["id"] for r in ov.history(args.undo) if r["kind"] == "feedback"]
            rng.shuffle(events)
            t0 = time.perf_counter()
            for event in events:
                ov.undo(event)
            undo_s = time.perf_counter() - t0
            exact = ov.store.all_counts() == before
        save(
            "learn",
            {
                "feedback_events": args.feedback,
                "feedback_per_s": round(args.feedback / feedback_s),
                "learn_to_usable_ms_p50": round(1000 * statistics.median(latencies), 2),
                "learn_to_usable_ms_p95": round(
                    1000 * sorted(latencies)[int(0.95 * (len(latencies) - 1))], 2
                ),
                "undo_events": len(events),
                "count_rows_touched": len(during),
                "undo_exact": exact,
                "undo_per_s": round(len(events) / undo_s),
            },
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
