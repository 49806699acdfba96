"""In-process halves of bench/server.py: the scoring scheduler's throughput against asks one
after another, and torch's thread setting for one query embedding, idle and under load."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _asks(n: int, questions: list[str]) -> list[str]:
    return [f"{questions[i % len(questions)]} ({i})" for i in range(n)]


def scheduler_throughput(levels: list[int], questions: list[str]) -> list[dict[str, Any]]:
    """For each N: N asks one after another on the model alone, then N asks at once through
    the scheduler (each on its own reader, as the server runs them); candidates scored per
    second both ways, and how many requests the scheduler's passes served on average."""
    from overlay import Overlay, Settings

    db = Path(tempfile.mkdtemp()) / "o.db"
    out = []
    with Overlay(settings=Settings.make(db=db)) as alone:
        alone.ingest([ROOT / "examples" / "vault"])
        alone.ask(questions[1])  # warm: the model loaded, its priors and first pass done
        with Overlay(settings=Settings.make(db=db), lm=alone.models.lm,
                     embedder=alone.models.embedder) as shared:  # the same loaded models
            shared.models.schedule()
            _at_once(shared, [questions[1]])  # warm its priors and first pass too
            for n in levels:
                asks = _asks(n, questions)
                t0 = time.perf_counter()
                scored = sum(len(alone.ask(q).candidates) for q in asks)
                sequential = time.perf_counter() - t0
                together = _at_once(shared, asks)
                passes = getattr(shared.models.lm, "batches", [])[-n:]
                out.append({
                    "asks": n, "candidates": scored,
                    "sequential_s": round(sequential, 2), "scheduler_s": round(together, 2),
                    "sequential_cand_per_s": round(scored / sequential, 1),
                    "scheduler_cand_per_s": round(scored / together, 1),
                    "speedup": round(sequential / together, 2),
                    "requests_per_pass": round(statistics.mean(passes), 2) if passes else None,
                })
                print(out[-1], flush=True)
    return out


def _at_once(overlay: Any, asks: list[str]) -> float:
    barrier = threading.Barrier(len(asks) + 1)
    readers = [overlay.reader() for _ in asks]
    errors: list[BaseException] = []

    def one(reader: Any, question: str) -> None:
        barrier.wait()
        try:
            reader.ask(question)
        except BaseException as exc:  # the bench reports it, below
            errors.append(exc)

    threads_ = [threading.Thread(target=one, args=(r, q)) for r, q in zip(readers, asks,
                                                                         strict=True)]
    for t in threads_:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads_:
        t.join()
    took = time.perf_counter() - t0
    for reader in readers:
        reader.close()
    if errors:
        raise SystemExit(f"an ask failed under the scheduler: {errors[0]!r}")
    return took


def thread_settings(repeats: int = 40) -> dict[str, Any]:
    """One query embedding with MiniLM: torch's default (one thread per core) against the one
    thread the embedder now asks for, idle and with four busy processes beside it."""
    import torch

    from overlay import threads
    from overlay.retrieve.embed import SentenceTransformerEmbedder, packaged_minilm

    embedder = SentenceTransformerEmbedder(packaged_minilm(), name="all-MiniLM-L6-v2")
    query = ["How do I keep a sourdough starter alive?"]
    embedder.embed(query)

    def median_ms(default: bool) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            if default:  # what torch does by itself: one thread per core
                torch.set_num_threads(threads.cores())
                embedder.model.encode(query, normalize_embeddings=True, show_progress_bar=False)
            else:  # the embedder's own path (threads.SMALL)
                embedder.embed(query)
            times.append(time.perf_counter() - t0)
        return round(1000 * statistics.median(times), 1)

    result: dict[str, Any] = {"cores": threads.cores()}
    result["idle"] = {"default_ms": median_ms(True), "one_thread_ms": median_ms(False)}
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4)]
    try:
        time.sleep(1.0)
        result["load_4"] = {"default_ms": median_ms(True), "one_thread_ms": median_ms(False)}
    finally:
        for b in burners:
            b.kill()
    print(result, flush=True)
    return result
