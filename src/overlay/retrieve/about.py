"""What a statement is about, and whether a question is about the same thing.

A learned statement (an edit) should act only where a question is about what it is about.
Its words are weighted by how specific they are in the overlay (inverse document frequency
over all nodes; stop words never count): in "The mother tongue of Danielle Darrieux is
English", among many statements on mother tongues, "danielle" and "darrieux" weigh most.
A question is about the statement when it names at least `share` of that weight — "The
mother tongue of Danielle Darrieux is" does, "The mother tongue of Thomas Mann is" does not.
(Also accepting a statement that names most of a short question's weight was tried: it let
more rephrasings through and more unrelated questions too, so locality came first.)
Nothing is read from outside the text: the same rule serves a user's `learn` and a
benchmark's records.
"""

from __future__ import annotations

import math
from functools import cache

from stop_words import get_stop_words

from overlay.lexical import analyze
from overlay.store.base import Store


@cache
def stop_stems() -> frozenset[str]:
    words = get_stop_words("english") + get_stop_words("russian")
    return frozenset(s for w in words for s in analyze(w))


def content_stems(text: str) -> list[str]:
    stop = stop_stems()
    return list(dict.fromkeys(s for s in analyze(text) if s not in stop))


def weights(store: Store, text: str) -> dict[str, float]:
    """Each content stem of `text` with its specificity, log((N + 1) / (df + 1)) + 1."""
    stems = content_stems(text)
    if not stems:
        return {}
    total, freqs = store.doc_freqs(stems)
    return {s: math.log((total + 1) / (freqs.get(s, 0) + 1)) + 1 for s in stems}


def coverage(store: Store, question: str, text: str) -> float:
    """Share of the statement's specificity that the question names (0..1)."""
    return _share(weights(store, text), set(analyze(question)))


def _share(w: dict[str, float], other: set[str]) -> float:
    total = sum(w.values())
    return sum(v for s, v in w.items() if s in other) / total if total else 0.0


def is_about(store: Store, question: str, text: str, share: float = 0.5) -> bool:
    return coverage(store, question, text) >= share
