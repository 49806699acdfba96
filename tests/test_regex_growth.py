"""No pattern that reads untrusted text may backtrack badly.

Every compiled regular expression at module level in the package (notes, methods, specs,
rules, requests, the lexical index) is run over hostile inputs made of one short piece
repeated, at a size n and at 4n, and so are the parsers that use them. Work that is linear in
the input grows about 4×; a quadratic pattern grows 16×, an exponential one never returns. The
test checks the ratio, not a time, so a slow or busy machine does not change its verdict.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import overlay
from overlay.ingest.markdown import comment_only, parse_note, scan_inline
from overlay.methods import parse as parse_method

# pieces that make patterns scan far without matching: brackets, backticks, comments, spaces,
# arrows, parentheses, quotes, list and callout marks
PIECES = ["[](", "[[", "[", "]", "`", "``x", "<!--", "<!---->", "<!--UID:x", "-->", " ", "a ",
          "#a", " ^a", "> [!", "if a → ", "1.  ", "f(", ")", '"', "(", "**", "![[a|", "\t",
          "a.", ". ", "→ step 1 ", "a,", "\n"]
SUFFIX = "\x00!"  # a tail no pattern expects, so a failing match tries every alternative

# patterns written inside functions rather than at module level
INLINE = [r"[,\n]", r"[\d_/-]+", r"\^([A-Za-z0-9-]+)", r"\bstep\s+\d", r"(?<=[.!?])\s+",
          r"[^\w.-]+", r"[^\w]+", r"^(rewrite|simpler|paraphrase|sentence)\s*:\s*"]


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    """Each distinct module-level pattern of the package, named where it is first found."""
    found: dict[str, tuple[str, re.Pattern[str]]] = {}
    for info in pkgutil.walk_packages(overlay.__path__, "overlay."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                found.setdefault(value.pattern, (f"{info.name}.{name}", value))
    for pattern in INLINE:
        found.setdefault(pattern, (f"inline {pattern}", re.compile(pattern)))
    return sorted(found.values(), key=lambda item: item[0])


PATTERNS = _patterns()


def _best(work: Callable[[str], object], text: str, tries: int = 3) -> float:
    best = float("inf")
    for _ in range(tries):
        t0 = time.perf_counter()
        work(text)
        best = min(best, time.perf_counter() - t0)
    return best


def growth(work: Callable[[str], object], piece: str, floor: float = 0.002) -> float:
    """How much longer `work` takes on 4n copies of `piece` than on n, with n grown until the
    smaller run takes at least `floor` seconds (so timer noise does not decide)."""
    n = 256
    while (small := _best(work, piece * n + SUFFIX, 1)) < floor and n < 1 << 18:
        n *= 2
    ratio = _best(work, piece * (4 * n) + SUFFIX, 1) / max(small, 1e-9)
    if ratio >= 6:  # measure again, best of several: a busy machine can stall one run
        ratio = min(ratio, _best(work, piece * (4 * n) + SUFFIX, 5) / _best(
            work, piece * n + SUFFIX, 5))
    return ratio


def _all_matches(pattern: re.Pattern[str]) -> Callable[[str], object]:
    def work(text: str) -> object:
        for line in (text, text.replace("\n", " ")):
            for _ in pattern.finditer(line):
                pass
            pattern.match(line)
        return None

    return work


def test_the_package_has_patterns_to_check() -> None:
    names = [name for name, _ in PATTERNS]
    assert any("ingest.markdown.MDLINK" in n for n in names)
    assert any("methods._BRANCH" in n for n in names)
    assert len(names) >= 30


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
}


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
