"""No pattern that reads untrusted text may backtrack badly, and no parser may be worse than
linear.

Every pattern the package makes (`overlay.patterns.REGISTRY`: notes, exports, questions, dates,
methods, specs, rules, requests, the lexical index) is run over hostile inputs made of one
short piece repeated, characters and words alike, at a size n and at 4n, and so are the
parsers that use them. Linear work grows about 4×; quadratic 16×. A ratio that looks
superlinear is measured again with the runs of n and 4n interleaved and the best of each kept,
so a machine busy with other work slows both alike and cannot fail the test, and a quadratic
pattern cannot pass it.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
import time
from collections.abc import Callable
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import overlay
from overlay import patterns
from overlay.dates import when_of
from overlay.ingest import chatgpt, conversations
from overlay.ingest.markdown import comment_only, parse_note, scan_inline
from overlay.methods import parse as parse_method
from overlay.retrieve.when import resolve

# pieces that make patterns scan far without matching: brackets, backticks, comments, spaces,
# arrows, parentheses, quotes, list and callout marks; and words the date and branch patterns
# look for, repeated ("before before …" froze the server once)
PIECES = ["[](", "[[", "[", "]", "`", "``x", "<!--", "<!---->", "<!--UID:x", "-->", " ", "a ",
          "#a", " ^a", "> [!", "if a → ", "1.  ", "f(", ")", '"', "(", "**", "![[a|", "\t",
          "a.", ". ", "→ step 1 ", "a,", "\n", "before ", "in May ", "days ago ", "may ",
          "3 ", "May 2023 ", "мая ", "session ", "Anna: ", "8 ", "2023-", "прошлом "]
SUFFIX = "\x00!"  # a tail no pattern expects, so a failing match tries every alternative

for _info in pkgutil.walk_packages(overlay.__path__, "overlay."):
    importlib.import_module(_info.name)  # every module's patterns registered


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    found: dict[str, tuple[str, re.Pattern[str]]] = {}
    for entry in patterns.REGISTRY:
        found.setdefault(entry.pattern, (f"{entry.engine} {entry.pattern[:60]}", entry.compiled))
    return sorted(found.values(), key=lambda item: item[0])


PATTERNS = _patterns()


def growth(work: Callable[[str], object], piece: str, floor: float = 0.002) -> float:
    """How much longer `work` takes on 4n copies of `piece` than on n: n grown until the
    smaller run takes `floor` seconds, then one run of each; a ratio that looks superlinear is
    measured again, five runs of each interleaved, best of each, so a busy machine cannot
    fail it."""
    n = 256
    while True:
        t0 = time.perf_counter()
        work(piece * n + SUFFIX)
        if time.perf_counter() - t0 >= floor:
            break
        if n >= 1 << 18:  # a megabyte in under `floor`: the work does not grow with it
            return 1.0
        n *= 2
    ratio = _ratio(work, piece, n, 1)
    return min(ratio, _ratio(work, piece, n, 5)) if ratio >= 6 else ratio


def _ratio(work: Callable[[str], object], piece: str, n: int, runs: int) -> float:
    small = big = float("inf")
    for _ in range(runs):
        for size in (n, 4 * n):
            t0 = time.perf_counter()
            work(piece * size + SUFFIX)
            took = time.perf_counter() - t0
            if size == n:
                small = min(small, took)
            else:
                big = min(big, took)
    return big / max(small, 1e-9)


def _all_matches(pattern: re.Pattern[str]) -> Callable[[str], object]:
    def work(text: str) -> object:
        for line in (text, text.replace("\n", " ")):
            for _ in pattern.finditer(line):
                pass
            pattern.match(line)
        return None

    return work


def test_the_package_has_patterns_to_check() -> None:
    assert len(PATTERNS) >= 40
    assert sum(1 for name, _ in PATTERNS if name.startswith("re2")) >= 35


# a pattern that fails at once wherever it is tried: linear by construction, so its growth on
# the same texts is what memory alone adds (a text of megabytes leaves the caches, and a
# cheap pattern needs such a text before its time can be read)
REFERENCE = _all_matches(re.compile(r"^\x01"))


@functools.cache
def linear_growth(piece: str) -> float:
    return max(4.0, growth(REFERENCE, piece))


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[n for n, _ in PATTERNS])
def test_pattern_grows_linearly(name: str, pattern: re.Pattern[str]) -> None:
    work = _all_matches(pattern)
    worst = max((growth(work, piece) * 4 / linear_growth(piece), piece) for piece in PIECES)
    assert worst[0] < 10, f"{name} grows {worst[0]:.0f}× for 4× the input {worst[1]!r}"


PARSERS: dict[str, Callable[[str], object]] = {
    "parse_note": lambda text: parse_note(text, "h.md", "h"),
    "scan_inline": lambda text: scan_inline(text, 1),
    "comment_only": comment_only,
    "method": lambda text: _method(text),
    "when": lambda text: resolve(text, date(2023, 8, 20)),
    "when_of": when_of,
    "transcript": lambda text: conversations.read("# 8 May 2023\n" + text, "t.md", "t"),
    "chatgpt": lambda text: chatgpt.read(_export(text), "c.json", 10_000),
}


def _export(text: str) -> bytes:
    import json

    return json.dumps([{"title": text, "mapping": {"a": {"message": {
        "author": {"role": "user"}, "content": {"parts": [text, text]}}}}}]).encode()


def _method(text: str) -> object:
    from overlay.errors import OverlayError

    try:
        return parse_method("1. Start.\n2. " + text + "\n3. End.\n")
    except OverlayError:
        return None


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_parser_grows_linearly(parser: str) -> None:
    worst = max((growth(PARSERS[parser], piece), piece) for piece in PIECES)
    assert worst[0] < 10, f"{parser} grows {worst[0]:.0f}× for 4× the input {worst[1]!r}"


def test_the_reported_notes_parse() -> None:
    """The two notes that froze ingest: 40 empty comments, and a long line of '[]('."""
    assert parse_note("# C\n\n" + "<!---->" * 40 + "x\n", "c.md", "c").blocks
    assert parse_note("[](" * 70_000 + "\n", "m.md", "m").blocks


# the same rule as a pattern: fine on a few characters, exponential on many
COMMENT_ONLY = re.compile(r"^\s*(<!--(?:(?!-->)[\s\S])*-->\s*)+$")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["<!--", "-->", "<!---->", "-", ">", "!", " ", "\n", "x"]),
                max_size=14).map("".join))
def test_comment_only_agrees_with_the_pattern_it_replaces(text: str) -> None:
    assert comment_only(text) == (COMMENT_ONLY.match(text) is not None)
