"""Link resolution as Obsidian does it: path, file name, alias; case-insensitive; closest wins."""

from __future__ import annotations

from overlay.graph import Node, NodeKind
from overlay.ingest.links import Resolver, anchor_key, anchors_of

NOTES = [
    ("v/Hooch.md", ["starter liquid"]),
    ("v/a/Index.md", []),
    ("v/b/Index.md", []),
    ("v/b/deep/Index.md", []),
    ("w/Hooch.md", []),
    ("v/Notes.txt", []),
]


def test_by_name_case_insensitive() -> None:
    r = Resolver(NOTES)
    assert r.resolve("hooch", "v/x.md") == "v/Hooch.md"
    assert r.resolve("HOOCH.md", "v/x.md") == "v/Hooch.md"
    assert r.resolve("notes", "v/x.md") == "v/Notes.txt"


def test_by_alias_and_by_path() -> None:
    r = Resolver(NOTES)
    assert r.resolve("Starter Liquid", "v/x.md") == "v/Hooch.md"
    assert r.resolve("b/deep/Index", "v/x.md") == "v/b/deep/Index.md"
    assert r.resolve("deep/index.md", "v/x.md") == "v/b/deep/Index.md"
    assert r.resolve("v/a/Index.md", "v/x.md", style="path") == "v/a/Index.md"
    assert r.resolve("v/a/missing.md", "v/x.md", style="path") is None


def test_ties_prefer_same_vault_then_folder_then_shortest() -> None:
    r = Resolver(NOTES)
    assert r.resolve("Hooch", "w/y.md") == "w/Hooch.md"
    assert r.resolve("Index", "v/b/deep/z.md") == "v/b/deep/Index.md"
    assert r.resolve("Index", "v/b/z.md") == "v/b/Index.md"
    assert r.resolve("Index", "v/z.md") == "v/a/Index.md"


def test_unknown_and_empty_targets() -> None:
    r = Resolver(NOTES)
    assert r.resolve("Nowhere", "v/x.md") is None
    assert r.resolve("  ", "v/x.md") is None


def test_anchors_match_headings_loosely_and_block_ids_exactly() -> None:
    nodes = [
        Node("s", NodeKind.BLOCK, "Signs of **trouble**", "", meta={"role": "section"}),
        Node("p", NodeKind.BLOCK, "", "text", meta={"role": "paragraph", "block_id": "abc"}),
    ]
    table = anchors_of(nodes)
    assert table[anchor_key("signs of trouble")] == "s"
    assert table[anchor_key("Signs  of Trouble")] == "s"
    assert table[anchor_key("^abc")] == "p"
    assert anchor_key("^ABC") not in table
