"""Shared helpers for benchmarks: synthetic text, timing, result files."""

from __future__ import annotations

import json
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).parent / "data"

SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "re",
    "su",
    "ta",
    "ne",
    "vo",
    "ri",
    "pa",
    "do",
    "ge",
    "lu",
    "fi",
    "mo",
    "sa",
    "te",
    "bi",
    "no",
    "ku",
]


def vocabulary(n: int, seed: int = 7) -> list[str]:
    """n distinct made-up words (2–4 syllables), so no word is a stop word by accident."""
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def zipf_sentence(rng: random.Random, vocab: list[str], length: int) -> str:
    """Words drawn with a Zipf-like law, as in real text: a few frequent, most rare."""
    n = len(vocab)
    return " ".join(
        vocab[min(n - 1, int(n * rng.paretovariate(1.1) / 20) % n)] for _ in range(length)
    )


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 3),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 3),
    }


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - t0


def save(name: str, result: dict[str, Any]) -> None:
    result = {
        "bench": name,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "when": time.strftime("%Y-%m-%d %H:%M"),
        **result,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
