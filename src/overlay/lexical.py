"""Lexical analysis for full-text search: words, lower-cased, stemmed per script.

SQLite's FTS5 has no Russian stemmer, so text is stemmed here (Snowball via PyStemmer:
Russian for Cyrillic words, English for Latin ones) and the stems are what FTS5 indexes.

Snowball gives one Russian name two stems where its vowel drops ("Лев", "Льва"), which is
harmless for search and wrong for telling whether a question names what a statement is
about, so that (and only that) reads Russian words by their dictionary form first
(pymorphy3): `lemma_stems`.
"""

from __future__ import annotations

from functools import lru_cache

import pymorphy3
import Stemmer

from overlay.patterns import bounded

WORD = bounded(r"\w+", "one class under one quantifier: each character read once; RE2 costs "
                          "20× on this, the hot path of every index and query")
CYRILLIC = bounded(r"[\u0400-\u04FF]", "one character")
LATIN = bounded(r"[a-z]", "one character")
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
    ru, en = _stemmer("russian"), _stemmer("english")
    return [_stem(word, ru, en) for word in _kept(text)]


def _kept(text: str) -> list[str]:
    """The words worth a term: not over-long, not underscores alone."""
    return [w for w in words(text) if len(w) <= MAX_TERM and w != "_" * len(w)]


def _stem(word: str, ru: Stemmer.Stemmer, en: Stemmer.Stemmer) -> str:
    if CYRILLIC.search(word):
        return str(ru.stemWord(word))
    if LATIN.search(word):
        return str(en.stemWord(word))
    return word


@lru_cache(maxsize=1)
def _morph() -> pymorphy3.MorphAnalyzer:
    return pymorphy3.MorphAnalyzer(lang="ru")


@lru_cache(maxsize=65536)
def _lemma_stem(word: str) -> str:
    lemma = str(_morph().parse(word)[0].normal_form).replace("ё", "е")
    return str(_stemmer("russian").stemWord(lemma))


def lemma_stems(text: str) -> list[str]:
    """`analyze`, with each Russian word's dictionary form stemmed ("Льва" and "Лев" both
    "лев"): one key per word however it is inflected."""
    ru, en = _stemmer("russian"), _stemmer("english")
    return [_lemma_stem(w) if CYRILLIC.search(w) else _stem(w, ru, en) for w in _kept(text)]


def terms(text: str) -> str:
    """Space-joined stems, the form stored in the FTS5 table."""
    return " ".join(analyze(text))
