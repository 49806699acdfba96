r"""Every regular expression that reads user text, made in one place, so that none can backtrack.

- `linear(pattern)` compiles on RE2 (PyPI `google-re2`): an automaton, so a match costs time
  linear in the text whatever the text holds. RE2 writes some things its own way:
  - its `\w`, `\d`, `\s` and `\b` are ASCII. A word character is `[{W}]` (`W` here: letters,
    digits and `_`, as Python's `\w`), a space is `[{S}]`;
  - it has no lookaround. A word boundary is the character before (`START`) or after (`END`)
    the word, or the start or end of the text. Such a pattern consumes that character, so its
    caller reads a named group, not the whole match.
- `bounded(pattern, why)` keeps Python's engine for a pattern that cannot backtrack, or that
  only ever sees bounded text. Each says why beside it: the tokenizers on the hot path are
  one character class under one quantifier, and RE2's Python binding costs about 20× per match.

`REGISTRY` lists every pattern made here with its engine and reason; `tests/test_patterns.py`
checks that no module compiles a pattern any other way.

One caution for callers: the binding encodes the whole text to UTF-8 on each call, so walk a
long text with one `finditer`, never with `search(text, pos)` in a loop (that is quadratic).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import re2

W = r"\p{L}\p{N}_"  # Python's \w, for use inside a class
S = r"\t\n\v\f\r \p{Z}\x{85}"  # Python's \s, for use inside a class
START = rf"(?:^|[^{W}])"  # a word starts here (RE2 has no Unicode \b): the char before it
END = rf"(?:$|[^{W}])"  # a word ended just before here

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a bad pattern is an exception, not a line on stderr


class _Match(re2._Match):  # type: ignore[misc]
    """RE2's match, taking a group's name wherever `re` does (start, end, span)."""

    __slots__ = ()

    def _at(self, group: int | str) -> int:
        return int(self._regexp.groupindex[group]) if isinstance(group, str) else group

    def start(self, group: int | str = 0) -> int:
        return int(super().start(self._at(group)))

    def end(self, group: int | str = 0) -> int:
        return int(super().end(self._at(group)))

    def span(self, group: int | str = 0) -> tuple[int, int]:
        start, end = super().span(self._at(group))
        return int(start), int(end)


class _Regexp(re2._Regexp):  # type: ignore[misc]
    __slots__ = ()

    def _match(self, anchor: object, text: str, pos: int | None = None,
               endpos: int | None = None) -> Iterator[_Match]:
        for m in super()._match(anchor, text, pos, endpos):
            yield _Match(m._regexp, m._text, m._pos, m._endpos, m._spans)


@dataclass(frozen=True)
class Entry:
    """One compiled pattern: its text, its engine ("re2" or "re"), for "re" why it is safe
    there, and the pattern itself."""

    pattern: str
    engine: str
    why: str
    compiled: re.Pattern[str]


REGISTRY: list[Entry] = []


def linear(pattern: str) -> re.Pattern[str]:
    """`pattern` on RE2. Flags are written inline: `(?i)`, `(?m)`, `(?s)`.

    Typed as `re.Pattern`: RE2's binding offers the same methods (search, match, fullmatch,
    finditer, findall, sub, split) and match objects (group, groupdict, start, end, span)."""
    compiled = cast(re.Pattern[str], _Regexp(pattern, _OPTIONS))
    REGISTRY.append(Entry(pattern, "re2", "", compiled))
    return compiled


def bounded(pattern: str, why: str, flags: int = 0) -> re.Pattern[str]:
    """`pattern` on Python's engine, with the reason it cannot backtrack badly (required)."""
    if not why.strip():
        raise TypeError("a pattern kept on Python's engine says why it is safe there")
    compiled = re.compile(pattern, flags)
    REGISTRY.append(Entry(pattern, "re", why, compiled))
    return compiled
