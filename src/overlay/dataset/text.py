"""Text normalisation shared by the build and the design rules, so both see the same words."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

_WORD = re.compile(r"\w+(?:[.,'’]\w+)*", re.UNICODE)
_DASHES = str.maketrans({"–": "-", "—": "-", "−": "-", "’": "'"})


def normalise(text: str) -> str:
    """NFKC, case-folded, dashes unified, punctuation dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).translate(_DASHES).casefold()
    return " ".join(_WORD.findall(text))


def words(text: str) -> list[str]:
    """The normalised words of `text`."""
    return normalise(text).split()


@cache
def stopwords(language: str = "en") -> frozenset[str]:
    from stop_words import get_stop_words

    try:
        return frozenset(get_stop_words(language))
    except Exception:
        return frozenset()


def ngrams(tokens: list[str], n: int) -> set[str]:
    """The distinct n-grams of `tokens`, joined by spaces (all of them if shorter than n)."""
    if len(tokens) <= n:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}
