"""What a statement is about: its most specific words, found from the overlay itself.

A learned statement (an edit) should act only where a question is about what it is about.
Its subject is taken to be its `k` rarest content stems in the overlay (document frequency
over all nodes; stop words never count): for "The mother tongue of Danielle Darrieux is
English", among many statements on mother tongues, that is "daniell", "darrieux". A question
is about the statement when it shares at least one of them. Nothing is read from outside the
text: the same rule serves a user's `learn` and a benchmark's records.
"""

from __future__ import annotations

from functools import cache

from stop_words import get_stop_words

from overlay.retrieve.lexical import analyze
from overlay.store.base import Store


@cache
def stop_stems() -> frozenset[str]:
    words = get_stop_words("english") + get_stop_words("russian")
    return frozenset(s for w in words for s in analyze(w))


def content_stems(text: str) -> list[str]:
    stop = stop_stems()
    return list(dict.fromkeys(s for s in analyze(text) if s not in stop and not s.isdigit()))


def subject(store: Store, text: str, k: int = 2) -> list[str]:
    """The statement's k most specific stems (rarest first; longer first on ties)."""
    stems = content_stems(text)
    if not stems:
        return []
    _total, freqs = store.doc_freqs(stems)
    return sorted(stems, key=lambda s: (freqs.get(s, 0), -len(s), s))[:k]


def is_about(store: Store, question: str, text: str, k: int = 2) -> bool:
    return bool(set(subject(store, text, k)) & set(analyze(question)))
