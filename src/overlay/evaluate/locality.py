"""Locality: what an imprint must *not* change. A fixed probe set of questions unrelated to any
dataset (choose-style, with distractors) and a few paragraphs of general text: an arm should
choose as the bare model chooses, and its cross-entropy on the text should not move.

The overlay arms change nothing here by construction (the model is untouched and no note
supports these options); an adapter may, and this is where it shows.
"""

from __future__ import annotations

import math
from typing import Any

from overlay.lm.base import LM

PROBES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("What is the capital of France?", "Paris", ("Lyon", "Berlin", "Madrid")),
    ("How many legs does a spider have?", "Eight", ("Six", "Four", "Ten")),
    ("What gas do plants take in from the air to make sugar?", "Carbon dioxide",
     ("Oxygen", "Helium", "Nitrogen")),
    ("Which planet is closest to the Sun?", "Mercury", ("Mars", "Jupiter", "Neptune")),
    ("What is 7 times 8?", "56", ("54", "64", "48")),
    ("What is the largest ocean on Earth?", "The Pacific Ocean",
     ("The Atlantic Ocean", "The Indian Ocean", "The Arctic Ocean")),
    ("Who wrote Romeo and Juliet?", "William Shakespeare",
     ("Charles Dickens", "Jane Austen", "Mark Twain")),
    ("At what temperature does water boil at sea level?", "100 degrees Celsius",
     ("50 degrees Celsius", "0 degrees Celsius", "200 degrees Celsius")),
    ("What is the chemical symbol for gold?", "Au", ("Ag", "Fe", "Gd")),
    ("How many days are in a leap year?", "366", ("365", "364", "360")),
    ("Which animal is known as the king of the jungle?", "The lion",
     ("The elephant", "The zebra", "The rabbit")),
    ("What do bees make?", "Honey", ("Milk", "Silk", "Wax paper")),
)

TEXT = (
    "The river rises in the hills to the north and flows south for about two hundred "
    "kilometres before it reaches the sea. Small towns grew up at the places where it could be "
    "crossed, and several of them still hold a market every week.",
    "A bicycle chain wears slowly as it is used. Once it has stretched by about half a percent "
    "it should be replaced, because a worn chain also wears the gears it runs on.",
    "Libraries lend books, but many also offer quiet rooms to work in, free internet access and "
    "help with finding information. Some run reading groups for children in the afternoon.",
    "The train left the station a few minutes late, but the driver made up the time on the long "
    "straight section after the bridge, and it arrived on schedule.",
)


def cross_entropy(lm: LM) -> float:
    """Mean negative log-likelihood per token of the general text, in nats."""
    total, count = 0.0, 0
    for paragraph in TEXT:
        scored = lm.score("", [paragraph])[0]
        total -= math.fsum(scored.logprobs)
        count += len(scored.logprobs)
    return total / max(count, 1)


def choices(choose: Any) -> list[Any]:
    """What `choose(question, options)` returns for every probe."""
    return [choose(q, list(dict.fromkeys([a, *d]))) for q, a, d in PROBES]


def compare(arm_choices: list[str], bare_choices: list[str], arm_ce: float, bare_ce: float,
            max_disagree: float = 0.1, max_ce_change: float = 0.05) -> dict[str, Any]:
    """The arm against the bare model: agreement, accuracy, cross-entropy change, verdict."""
    n = len(PROBES)
    agree = sum(a == b for a, b in zip(arm_choices, bare_choices, strict=True)) / n
    correct = sum(c == p[1] for c, p in zip(arm_choices, PROBES, strict=True)) / n
    change = (arm_ce - bare_ce) / bare_ce
    return {
        "probes": n,
        "agreement": round(agree, 4),
        "accuracy": round(correct, 4),
        "cross_entropy": round(arm_ce, 4),
        "cross_entropy_change": round(change, 4),
        "ok": agree >= 1 - max_disagree and abs(change) <= max_ce_change,
    }
