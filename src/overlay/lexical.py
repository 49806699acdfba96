"""Lexical analysis for full-text search: words, lower-cased, stemmed per script.

SQLite's FTS5 has no Russian stemmer, so text is stemmed here (Snowball via PyStemmer:
Russian for Cyrillic words, English for Latin ones) and the stems are what FTS5 indexes.
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

WORD = re.compile(r"\w+", re.UNICODE)
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
LATIN = re.compile(r"[a-z]")
MAX_TERM = 64


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


def words(text: str) -> list[str]:
    """Lower-cased words, with ё folded to е (Russian writes both for one letter)."""
    return WORD.findall(text.lower().replace("ё", "е"))


def script_of(char: str) -> str:
    """'cyrillic', 'latin' or 'other': the script of one letter."""
    code = ord(char)
    if 0x0400 <= code <= 0x04FF:
        return "cyrillic"
    if char.isascii() or 0x00C0 <= code <= 0x024F:
        return "latin"
    return "other"


def analyze(text: str) -> list[str]:
    """The stems FTS5 indexes and queries with."""
    out: list[str] = []
    ru, en = _stemmer("russian"), _stemmer("english")
    for word in words(text):
        if len(word) > MAX_TERM or word == "_" * len(word):
            continue
        if CYRILLIC.search(word):
            out.append(ru.stemWord(word))
        elif LATIN.search(word):
            out.append(en.stemWord(word))
        else:
            out.append(word)
    return out


def terms(text: str) -> str:
    """Space-joined stems, the form stored in the FTS5 table."""
    return " ".join(analyze(text))
