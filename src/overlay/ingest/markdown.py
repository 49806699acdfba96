"""Parse one Markdown note (Obsidian or plain) into blocks, links and tags with line numbers.

Block structure comes from markdown-it-py (CommonMark + tables); the Obsidian syntax on top of
it (frontmatter, wikilinks, embeds, callouts, block ids, inline tags, UID markers) is this
module's own small set of rules (inline ones in `inline.py`). Code blocks and code spans never
yield links or tags.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from overlay.dates import minutes, when_of
from overlay.errors import IngestError, SpecError
from overlay.graph import NodeKind
from overlay.ingest.inline import (
    WIKILINK,
    Link,
    comment_only,
    parse_link,
    scan_inline,
)
from overlay.patterns import S, W, linear
from overlay.yamlfile import compose, construct

# block structure only: inline text is read by this module's own rules, so markdown-it's
# inline pass (the costly part on hostile text) is off
_MD = MarkdownIt("commonmark").enable("table").disable("inline")
# a note may declare itself any kind but a block (a part of a note is not a note)
DECLARABLE_KINDS = frozenset(k.value for k in NodeKind) - {NodeKind.BLOCK.value}

# Every pattern here reads untrusted text and runs on RE2 (overlay.patterns): linear in it.
CALLOUT = linear(rf"^[{S}]*\[!([{W}-]+)\]([+-]?)[ \t]*(.*)$")
BLOCK_ID = linear(rf"(?:^|[{S}])\^([A-Za-z0-9-]+)[{S}]*$")
UID = linear(rf"<!--[{S}]*UID:[{S}]*([^{S}<>]+)[{S}]*-->")
QUOTE_PREFIX = linear(r"^ {0,3}> ?")
FRONTMATTER_FENCE = linear(rf"^---[{S}]*$")
LIST_SEP = linear(r"[,\n]")
LONE_BLOCK_ID = linear(r"\^([A-Za-z0-9-]+)")

MAX_NESTING = 16  # callouts inside callouts read as blocks; deeper, as the text they hold
# callout types written by chat exports: who said what
SPEAKERS = {"nexus_user": "user", "nexus_agent": "assistant", "user": "user",
            "assistant": "assistant"}
ROLE_OF_TOKEN = {
    "paragraph_open": "paragraph",
    "bullet_list_open": "list",
    "ordered_list_open": "list",
    "table_open": "table",
    "fence": "code",
    "code_block": "code",
    "blockquote_open": "quote",
    "html_block": "html",
}


@dataclass
class Block:
    """A heading section, a callout or a paragraph-level block, with a 1-based line span."""

    role: str
    title: str
    text: str
    line_start: int
    line_end: int
    parent: int | None
    anchor: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


@dataclass
class Note:
    """Everything read from one note."""

    title: str
    frontmatter: dict[str, Any]
    tags: list[str]
    aliases: list[str]
    kind: str | None
    goals: list[Link]
    links: list[Link]
    blocks: list[Block]
    warnings: list[str]


def split_frontmatter(
    text: str, path: str, max_bytes: int = 256_000, anchors: bool = False
) -> tuple[dict[str, Any], str, int]:
    """Return (frontmatter, body with frontmatter lines blanked, frontmatter line count).
    The frontmatter is read by the project's one safe YAML reader: at most `max_bytes`, and
    no anchors or aliases unless `anchors` (they are how an alias bomb is built)."""
    lines = text.split("\n")
    if not lines or not FRONTMATTER_FENCE.match(lines[0]):
        return {}, text, 0
    for end in range(1, len(lines)):
        if FRONTMATTER_FENCE.match(lines[end]) or lines[end].strip() == "...":
            break
    else:
        raise IngestError("frontmatter opened with '---' is never closed", path, 1)
    raw = "\n".join(lines[1:end])
    try:
        root = compose(raw, path, max_bytes=max_bytes, anchors=anchors, first_line=2,
                       fast=False)
        data = construct(root, path, 2) if raw.strip() else {}
    except SpecError as exc:
        problem = exc.detail.removeprefix("not valid YAML: ")
        raise IngestError(f"bad YAML frontmatter: {problem}", path, exc.line or 1) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise IngestError("frontmatter must be a mapping of keys to values", path, 2)
    body = "\n" * (end + 1) + "\n".join(lines[end + 1 :])
    return data, body, end + 1


def _strings(value: Any) -> list[str]:
    """Frontmatter list-or-string fields (tags, aliases) as a list of clean strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in LIST_SEP.split(value) if v.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [str(value)]


def _unquote_lines(lines: list[str]) -> list[str]:
    return [
        QUOTE_PREFIX.sub("", ln, count=1) if ln.lstrip().startswith(">") else ln for ln in lines
    ]


def _closing(tokens: list[Token], i: int) -> int:
    """Index of the token that closes the block opened at `i` (same nesting level)."""
    if tokens[i].nesting != 1:
        return i
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return len(tokens) - 1


@dataclass(frozen=True)
class _At:
    """Where a top-level token sits: lines `start:stop` of `lines` (0-based `offset` into the
    file), inside block `container`, inheriting `meta`."""

    lines: list[str]
    offset: int
    start: int
    stop: int
    container: int | None
    meta: dict[str, Any]

    @property
    def first(self) -> int:
        return self.offset + self.start + 1

    @property
    def last(self) -> int:
        return self.offset + self.stop


class _Full(Exception):
    """The note holds more blocks than will be kept: the walk stops."""


class _Builder:
    """Walks markdown-it tokens and appends blocks with their parents and anchors."""

    def __init__(self, path: str, most: int | None = None) -> None:
        self.path, self.most = path, most
        self.blocks: list[Block] = []
        self.turns = 0  # chat turns (speaker callouts) so far
        self.warnings: list[str] = []
        self.depth = 0  # callouts the walk is inside

    def add(self, block: Block) -> int:
        if self.most is not None and len(self.blocks) > self.most:
            raise _Full  # one past the limit: the caller sees there were more, and warns
        self.blocks.append(block)
        return len(self.blocks) - 1

    def walk(
        self, lines: list[str], offset: int, container: int | None, meta: dict[str, Any]
    ) -> None:
        """Parse `lines` (0-based `offset` into the file) as blocks inside `container`."""
        tokens = _MD.parse("\n".join(lines))
        headings: list[tuple[int, int]] = []  # (level, block index)
        previous: int | None = None  # the block of the previous top-level token: a UID marks it
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok.level == 0 and tok.map is not None:
                at = _At(lines, offset, tok.map[0], tok.map[1], container, meta)
                previous = self._top(tokens, i, at, headings, previous)
            i = _closing(tokens, i) + 1

    def _top(
        self, tokens: list[Token], i: int, at: _At, headings: list[tuple[int, int]],
        previous: int | None,
    ) -> int | None:
        """One top-level token: a heading, a callout, a comment holding UIDs or a leaf block.
        Returns the block a UID comment after it would mark."""
        tok = tokens[i]
        span = at.lines[at.start : at.stop]
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            while headings and headings[-1][0] >= level:
                headings.pop()
            title = tokens[i + 1].content.strip()
            parent = headings[-1][1] if headings else at.container
            idx = self._titled("section", title, at, parent, {**at.meta, "level": level})
            headings.append((level, idx))
            return idx
        if tok.type == "blockquote_open" and span and CALLOUT.match(_unquote_lines(span[:1])[0]):
            return self._callout(span, at, headings)
        if tok.type == "html_block" and comment_only(tok.content):
            for uid in UID.findall(tok.content):
                if previous is not None:
                    self.blocks[previous].meta.setdefault("uid", uid)
            return previous
        if tok.type == "hr":
            return previous
        parent = headings[-1][1] if headings else at.container
        leaf = self._leaf(ROLE_OF_TOKEN.get(tok.type, "paragraph"), span, at, parent)
        return previous if leaf is None else leaf

    def _titled(
        self, role: str, title: str, at: _At, parent: int | None, meta: dict[str, Any]
    ) -> int:
        links, tags = scan_inline(title, at.first)
        return self.add(
            Block(role, title, title, at.first, at.last, parent, meta=meta, links=links, tags=tags)
        )

    def _callout(self, span: list[str], at: _At, headings: list[tuple[int, int]]) -> int:
        """A callout block and, inside it, its own blocks."""
        inner = _unquote_lines(span)
        m = CALLOUT.match(inner[0])
        assert m is not None
        kind, fold, title = m.group(1).lower(), m.group(2), m.group(3).strip()
        parent = headings[-1][1] if headings else at.container
        if kind in SPEAKERS:  # a chat turn starts a new top-level part of the note
            headings.clear()
            parent = at.container
        cmeta = {**at.meta, "callout": kind}
        if self.depth >= MAX_NESTING:  # deeper is read as text: bounded recursion and work
            if not self.warnings:
                self.warnings.append(f"{self.path}:{at.first}: callouts nested over "
                                     f"{MAX_NESTING} deep; the deeper ones kept as text")
            return self._leaf("quote", span, at, parent) or parent or 0
        if kind in SPEAKERS:  # a turn: who, when (its title's date), and where in the chat
            self.turns += 1
            cmeta.update(speaker=SPEAKERS[kind], turn=self.turns)
            if (stamp := minutes(when_of(title))) is not None:
                cmeta["time"] = stamp
        if fold:
            cmeta["folded"] = fold == "-"
        idx = self._titled("callout", title or kind, at, parent, cmeta)
        self.depth += 1
        try:
            self.walk(inner[1:], at.offset + at.start + 1, idx, cmeta)
        finally:
            self.depth -= 1
        return idx

    def _leaf(self, role: str, span: list[str], at: _At, parent: int | None) -> int | None:
        """A paragraph, list, table, code or quote block; None when it holds no text."""
        text = "\n".join(span).strip()
        bmeta = dict(at.meta)
        for uid in UID.findall(text):
            bmeta["uid"] = uid
        text = UID.sub("", text).strip()
        m = BLOCK_ID.search(text.split("\n")[-1]) if role != "code" else None
        if m:
            bmeta["block_id"] = m.group(1)
            text = text[: len(text) - len(text.split("\n")[-1])] + BLOCK_ID.sub(
                "", text.split("\n")[-1]
            )
            text = text.strip()
        elif (
            role in ("list", "table", "quote")
            and at.stop < len(at.lines)
            and (bid := LONE_BLOCK_ID.fullmatch(at.lines[at.stop].strip()))
        ):
            bmeta["block_id"] = bid.group(1)  # Obsidian: id on the line after a list/table
        if not text:
            return None
        links, tags = ([], []) if role == "code" else scan_inline(text, at.first)
        return self.add(
            Block(role, "", text, at.first, at.last, parent, meta=bmeta, links=links, tags=tags)
        )

    def close_spans(self) -> None:
        """A section or callout spans to the last line of its last descendant. A parent is
        always written before its descendants, so one pass from the end carries each block's
        last line up to its parent."""
        for block in reversed(self.blocks):
            if block.parent is not None:
                parent = self.blocks[block.parent]
                parent.line_end = max(parent.line_end, block.line_end)


def _assign_anchors(blocks: list[Block]) -> None:
    """Anchors that survive edits elsewhere in the note: block ids, UIDs, heading paths, and
    ordinals within the parent for plain paragraphs."""
    seen: dict[str, int] = {}
    ordinal: dict[int | None, int] = {}
    for block in blocks:
        base = blocks[block.parent].anchor + "/" if block.parent is not None else ""
        if block.meta.get("block_id") and block.role not in ("section", "callout"):
            anchor = "^" + str(block.meta["block_id"])
        elif block.role == "section":
            anchor = base + "h:" + block.title
        elif block.role == "callout":
            n = ordinal[block.parent] = ordinal.get(block.parent, 0) + 1
            anchor = base + ("c:" + str(block.meta["uid"]) if block.meta.get("uid") else f"c{n}")
        else:
            n = ordinal[block.parent] = ordinal.get(block.parent, 0) + 1
            anchor = base + f"p{n}"
        count = seen[anchor] = seen.get(anchor, 0) + 1
        block.anchor = anchor if count == 1 else f"{anchor}~{count}"


def _cut(lines: list[str], most: int) -> int | None:
    """The line before which a note surely holds `most` + 1 blocks or fewer, when it may hold
    more: every block starts at a line after a blank one, or at a heading, quote, list or
    table line, so counting such lines over-counts blocks and never under-counts them."""
    starts, blank = 0, True
    for n, line in enumerate(lines):
        text = line.lstrip()
        if not text:
            blank = True
            continue
        if blank or text[0] in "#>-*+|`~" or text[0].isdigit():
            starts += 1
            if starts > 2 * most + 1:  # twice: a list's items each count, the list is one
                return n
        blank = False
    return None


def parse_note(
    text: str, path: str, title: str, max_frontmatter: int = 256_000, anchors: bool = False,
    max_blocks: int | None = None,
) -> Note:
    """Parse a note. Raises IngestError (with file and line) for malformed frontmatter. Past
    `max_blocks` blocks the walk stops (the caller warns), before the rest is parsed."""
    frontmatter, body, fm_lines = split_frontmatter(text, path, max_frontmatter, anchors)
    builder = _Builder(path, max_blocks)
    lines = body.split("\n")
    cut = _cut(lines, max_blocks) if max_blocks is not None else None
    if cut is not None:  # bounded before markdown-it sees it: its work grows with the blocks
        builder.warnings.append(f"{path}:{cut + fm_lines + 1}: over {max_blocks:,} blocks, "
                                f"only the first {max_blocks:,} kept (ingest.max_blocks)")
        del lines[cut:]
    with contextlib.suppress(_Full):
        builder.walk(lines, 0, None, {})
    if cut is not None and max_blocks is not None:
        del builder.blocks[max_blocks:]  # warned about once, above
    warnings = builder.warnings
    builder.close_spans()
    blocks = builder.blocks
    _assign_anchors(blocks)

    key_lines: dict[str, int] = {}  # each top-level key's first line, in one pass
    for n, ln in enumerate(text.split("\n")[:fm_lines]):
        key, colon, _ = ln.partition(":")
        if colon:
            key_lines.setdefault(key.rstrip(), n + 1)

    def line_of(key: str) -> int:
        return key_lines.get(key, 1)

    kind = frontmatter.get("kind")
    if kind is not None:
        kind = str(kind).strip().lower()
        if kind not in DECLARABLE_KINDS:
            warnings.append(
                f"{path}:{line_of('kind')}: kind {kind!r} is not one of "
                f"{', '.join(sorted(DECLARABLE_KINDS))}; read as a plain note"
            )
            kind = None
    fm_links: list[Link] = []
    goals: list[Link] = []
    for key, value in frontmatter.items():
        line = line_of(str(key))
        for item in _strings(value) if key not in ("tags", "tag", "aliases", "alias") else []:
            found = [parse_link(m.group(2), False, line) for m in WIKILINK.finditer(item)]
            if key == "goal":
                goals += found or [Link(item, None, None, False, line)]
            else:
                fm_links += found
    tags = _strings(frontmatter.get("tags")) + _strings(frontmatter.get("tag"))
    tags = [t.lstrip("#") for t in tags]
    aliases = _strings(frontmatter.get("aliases")) + _strings(frontmatter.get("alias"))
    return Note(
        title=title,
        frontmatter=frontmatter,
        tags=list(dict.fromkeys(tags + [t for b in blocks for t in b.tags])),
        aliases=aliases,
        kind=kind,
        goals=goals,
        links=fm_links,
        blocks=blocks,
        warnings=warnings,
    )
