"""Text normalisation shared by the build and the design rules, so both see the same words."""

from __future__ import annotations

import unicodedata
from functools import cache

from overlay.errors import ConfigError
from overlay.patterns import W, linear

_WORD = linear(rf"[{W}]+(?:[.,'’][{W}]+)*")
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
    """The stop words of `language` (an ISO code or name the stop-words package knows)."""
    from stop_words import AVAILABLE_LANGUAGES, StopWordError, get_stop_words

    try:
        return frozenset(get_stop_words(language))
    except StopWordError:
        known = ", ".join(sorted(AVAILABLE_LANGUAGES))
        raise ConfigError(f"no stop words for language {language!r}; known: {known}") from None


def ngrams(tokens: list[str], n: int) -> set[str]:
    """The distinct n-grams of `tokens`, joined by spaces (all of them if shorter than n)."""
    if len(tokens) <= n:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}
