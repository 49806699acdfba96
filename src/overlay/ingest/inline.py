"""What one line of a note links to and tags: wikilinks, embeds, Markdown links and inline
tags, each with its line, code spans left out. The note's blocks are `markdown.py`'s."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from overlay.patterns import S, W, linear

# Every pattern here reads untrusted text and runs on RE2 (overlay.patterns): linear in the line.
WIKILINK = linear(r"(!?)\[\[([^\[\]\n]+?)\]\]")
MDLINK = linear(
    rf"(!?)\[([^\[\]\n]*)\]\([{S}]*<?([^()\[\]{S}<>]+)>?(?:[{S}]+\"[^\"\n]*\")?[{S}]*\)")
URL_SCHEME = linear(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# a tag starts a word: the character before it (consumed, RE2 has no lookbehind) is none of these
TAG = linear(rf"(?:^|[^{W}#&/=\[\]\(\)])#([{W}][{W}/-]*)")
BACKTICKS = linear(r"`+")
NUMERIC_TAG = linear(r"[\d_/-]+")


@dataclass(frozen=True)
class Link:
    """A link as written. `anchor` is a heading or `^block-id`; `style` is wiki or markdown."""

    target: str
    anchor: str | None
    alias: str | None
    embed: bool
    line: int
    style: str = "wiki"


def parse_link(inner: str, embed: bool, line: int) -> Link:
    """`Note#Heading|alias` → Link. A bare `#Heading` links inside the same note."""
    target, _, alias = inner.partition("|")
    target, _, anchor = target.partition("#")
    return Link(target.strip(), anchor.strip() or None, alias.strip() or None, embed, line)


def comment_only(text: str) -> bool:
    """Whether `text` is nothing but HTML comments and white space (one pass, no regex)."""
    at, end, seen = 0, len(text), False
    while True:
        while at < end and text[at].isspace():
            at += 1
        if not text.startswith("<!--", at):
            return seen and at == end
        close = text.find("-->", at + 4)
        if close < 0:
            return False
        at, seen = close + 3, True


def blank_code_spans(line: str) -> str:
    """`line` with its code spans blanked: a run of n backticks opens one, the next run of
    exactly n closes it (CommonMark). Each run is looked at once."""
    runs = [(m.start(), m.end()) for m in BACKTICKS.finditer(line)]
    closer: list[int | None] = [None] * len(runs)
    later: dict[int, int] = {}  # run length -> index of the nearest such run to the right
    for i in range(len(runs) - 1, -1, -1):
        size = runs[i][1] - runs[i][0]
        closer[i], later[size] = later.get(size), i
    out, at, i = [], 0, 0
    while i < len(runs):
        j = closer[i]
        if j is None:
            i += 1
            continue
        out += [line[at : runs[i][0]], " " * (runs[j][1] - runs[i][0])]
        at, i = runs[j][1], j + 1
    return "".join(out) + line[at:] if out else line


def scan_inline(text: str, first_line: int) -> tuple[list[Link], list[str]]:
    """Links and tags in text (code spans removed), with the line each sits on."""
    links: list[Link] = []
    tags: list[str] = []
    for offset, line in enumerate(text.split("\n")):
        line = blank_code_spans(line)
        number = first_line + offset
        for m in WIKILINK.finditer(line):
            links.append(parse_link(m.group(2), bool(m.group(1)), number))
        for m in MDLINK.finditer(line):
            href = m.group(3)
            if URL_SCHEME.match(href) or href.startswith("#"):
                continue
            path, _, anchor = unquote(href).partition("#")
            links.append(
                Link(path, anchor or None, m.group(2) or None, bool(m.group(1)), number, "markdown")
            )
        for m in TAG.finditer(WIKILINK.sub(" ", MDLINK.sub(" ", line))):
            tag = m.group(1).rstrip("/-")
            if tag and not NUMERIC_TAG.fullmatch(tag):
                tags.append(tag)
    return links, tags
