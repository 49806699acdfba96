"""The note parser: every piece of Obsidian syntax the vaults use, with line numbers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlay.errors import IngestError
from overlay.ingest.markdown import Link, parse_note, scan_inline

NOTE = """---
tags: [bread, "#starter"]
aliases: [Levain culture, Mother dough]
kind: method
goal: "[[Weekly loaf]]"
related: "[[Flour]]"
---
# Title

Plain [[Note]], aliased [[Note|shown]], heading [[Note#Some Heading]],
block [[Note#^abc-1]] and embed ![[Picture note]] and #inline-tag. ^para1

Markdown [text](sub/other%20note.md#Part) not [web](https://x.org/a.md) nor `[[in code]] #nottag`.

> [!warning] Careful now
> Inside a callout [[Callout link]].

>[!nexus_user] **User** - 01.07.2025 at 16:20
> A question from the user.
<!-- UID: 5b58df59-d085 -->

>[!nexus_agent] **Assistant** - 01.07.2025 at 16:21
> ## An answer heading
> The agent answers.

```python
x = "[[not a link]]"  # #nottag
```

- item one
- item two

^list-id
"""


@pytest.fixture
def note():  # type: ignore[no-untyped-def]
    return parse_note(NOTE, "n.md", "n")


def test_frontmatter_fields(note) -> None:  # type: ignore[no-untyped-def]
    assert note.kind == "method"
    assert note.aliases == ["Levain culture", "Mother dough"]
    assert note.tags[:2] == ["bread", "starter"]
    assert "inline-tag" in note.tags and "nottag" not in note.tags
    assert [g.target for g in note.goals] == ["Weekly loaf"]
    assert [(link.target, link.line) for link in note.links] == [("Flour", 6)]


def test_wikilink_forms(note) -> None:  # type: ignore[no-untyped-def]
    links = [link for b in note.blocks for link in b.links]
    by = {(link.target, link.anchor, link.alias, link.embed) for link in links}
    assert ("Note", None, None, False) in by
    assert ("Note", None, "shown", False) in by
    assert ("Note", "Some Heading", None, False) in by
    assert ("Note", "^abc-1", None, False) in by
    assert ("Picture note", None, None, True) in by
    assert ("Callout link", None, None, False) in by
    assert all("in code" not in link.target and "not a link" not in link.target for link in links)
    md = [link for link in links if link.style == "markdown"]
    assert [(link.target, link.anchor, link.line) for link in md] == [
        ("sub/other note.md", "Part", 13)
    ]
    assert {link.line for link in links if link.target == "Note"} == {10, 11}


def test_blocks_have_line_spans_and_ids(note) -> None:  # type: ignore[no-untyped-def]
    roles = [(b.role, b.line_start, b.line_end) for b in note.blocks]
    assert roles[0] == ("section", 8, 16)  # the H1 spans until the chat turns begin
    para = next(b for b in note.blocks if b.meta.get("block_id") == "para1")
    assert (para.line_start, para.line_end) == (10, 11)
    assert not para.text.endswith("^para1")
    listed = next(b for b in note.blocks if b.role == "list")
    assert listed.meta["block_id"] == "list-id"
    code = next(b for b in note.blocks if b.role == "code")
    assert code.links == [] and code.tags == []


def test_callouts_keep_who_said_what(note) -> None:  # type: ignore[no-untyped-def]
    callouts = [b for b in note.blocks if b.role == "callout"]
    assert [(c.meta["callout"], c.meta.get("speaker")) for c in callouts] == [
        ("warning", None),
        ("nexus_user", "user"),
        ("nexus_agent", "assistant"),
    ]
    assert callouts[0].title == "Careful now"
    user = callouts[1]
    assert user.meta["uid"] == "5b58df59-d085" and user.anchor == "c:5b58df59-d085"
    assert user.parent is None  # a chat turn is a top-level part of the note
    said = [b for b in note.blocks if b.text == "A question from the user."]
    assert said and said[0].meta["speaker"] == "user"
    heading = next(b for b in note.blocks if b.title == "An answer heading")
    assert heading.meta["speaker"] == "assistant" and heading.line_start == 23
    answer = next(b for b in note.blocks if b.text == "The agent answers.")
    assert answer.meta["speaker"] == "assistant" and answer.line_start == 24


def test_anchors_are_unique_and_stable_under_edits_elsewhere() -> None:
    a = parse_note("# A\n\none\n\n# B\n\ntwo\n", "x.md", "x")
    b = parse_note("# A\n\none\n\nnew paragraph\n\n# B\n\ntwo\n", "x.md", "x")
    assert len({blk.anchor for blk in a.blocks}) == len(a.blocks)
    two_a = next(blk.anchor for blk in a.blocks if blk.text == "two")
    two_b = next(blk.anchor for blk in b.blocks if blk.text == "two")
    assert two_a == two_b == "h:B/p1"


def test_bad_yaml_names_file_and_line() -> None:
    with pytest.raises(IngestError) as info:
        parse_note("---\ntags: [a, b\nkind: x\n---\nbody\n", "bad.md", "bad")
    assert "bad.md:" in str(info.value) and info.value.line in (3, 4)


def test_unclosed_frontmatter_and_non_mapping() -> None:
    with pytest.raises(IngestError, match=r"bad.md:1: .*never closed"):
        parse_note("---\ntags: [a]\n", "bad.md", "bad")
    with pytest.raises(IngestError, match="mapping"):
        parse_note("---\n- a\n- b\n---\n", "bad.md", "bad")


def test_scan_inline_tags() -> None:
    _, tags = scan_inline("a #tag and #тег, not #123 nor a#b nor http://x.org/#frag, #a/b", 1)
    assert tags == ["tag", "тег", "a/b"]


def test_same_note_link() -> None:
    links, _ = scan_inline("see [[#Heading]]", 3)
    assert links == [Link("", "Heading", None, False, 3)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([*"ab #>[]()!|^-`\n*:—я\"", "[[", "]]", "---\n", "> [!x] ", "<!--",
                         "-->", "](", "UID: ", "```\n", "1. ", "    ", "\t"]), max_size=160
    ).map("".join)
)
def test_property_parser_never_crashes_and_spans_stay_in_file(text: str) -> None:
    try:
        note = parse_note(text, "p.md", "p")
    except IngestError:
        return
    lines = text.count("\n") + 1
    for block in note.blocks:
        assert 1 <= block.line_start <= block.line_end <= lines
        for link in block.links:
            assert block.line_start <= link.line <= block.line_end


def test_unknown_kind_is_a_warning_with_its_line() -> None:
    note = parse_note("---\ntags: [a]\nkind: recipe\n---\nbody\n", "k.md", "k")
    assert note.kind is None
    assert note.warnings == [
        "k.md:3: kind 'recipe' is not one of concept, fact, goal, memory, method, principle, "
        "source; read as a plain note"
    ]
