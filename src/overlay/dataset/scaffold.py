"""Scaffold a passport from the knowledge layer: notes → nodes, wikilinks → anchors.

Each selected note becomes a node whose statements are the sentences of its paragraphs (links
written as plain words), whose anchors are its links to other selected notes, and whose self-test
asks for the note's first statement with other notes' statements as distractors. A method note's
links, in step order, become `precedes` transitions between the notes it walks through. Links to
notes outside the selection are left out and counted in the header, so the spec checks clean.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

import yaml

from overlay.dataset import templates as T
from overlay.errors import ConfigError, OverlayError
from overlay.graph import EdgeKind, Node, NodeKind
from overlay.patterns import S, W, linear
from overlay.store.base import Store

_LINK = linear(r"!?\[\[([^\[\]|#^]*)(?:[#^][^\[\]|]*)?(?:\|([^\[\]]*))?\]\]")
_MDLINK = linear(r"\[([^\[\]]*)\]\([^()\[\]]*\)")
_SENTENCE = linear(rf"([.!?…])[{S}]+([\"“(]?[A-ZА-ЯЁ0-9])")
_NONWORD = linear(rf"[^{W}]+")
_LIST_MARK = linear(r"(?m)^[ \t]*(?:[-*+]|\d+[.)])[ \t]+")
_TEXT_ROLES = {"paragraph", "list", "callout", "quote", "item", "step"}

Grouping = Literal["folder", "tag"]

STARTER = """\
# An architectural passport: modules of semantic nodes, compiled into a fine-tuning dataset.
#   overlay dataset schema         the full schema, with help for every field
#   overlay dataset check FILE     the design rules (dangling anchors, cycles, leakage, ...)
#   overlay dataset build FILE -o DIR
name: starter
version: 0.1.0
base_model: smollm2          # whose tokenizer bounds item length; or a local model folder
formats: [sft-chat]          # add pretrain-text for continued pretraining
modules:
  - id: basics
    nodes:
      - id: levain
        title: Levain
        statements:
          - A levain is a portion of starter built for one bake.
          - text: A levain peaks 4–6 hours after feeding at 26 °C.
            subject: levain          # a claim: the contradiction rule compares these
            relation: peak time
            value: 4–6 hours at 26 °C
        anchors: ["[[Float test]]"]  # I/O ports: 'node', 'module.node' or '[[Title]]'
        transitions:
          - {to: float-test, relation: precedes}
        meta: {importance: 4}
        self_tests:                  # held out: never among the training items
          - question: How long after feeding is a levain ready at 26 °C?
            answer: 4–6 hours
            distractors: [30 minutes, two days]
      - id: float-test
        title: Float test
        statements:
          - A spoonful of ripe levain floats in water because it is full of gas.
        self_tests:
          - question: Why does a ripe levain float?
            answer: Because it is full of gas.
            distractors: [Because it is cold, Because it has no flour]
"""


def plain(text: str) -> str:
    """Markdown link syntax written as the words a reader sees."""
    text = _LINK.sub(lambda m: m.group(2) or m.group(1).split("/")[-1], text)
    text = _MDLINK.sub(lambda m: m.group(1), text)
    text = _LIST_MARK.sub("", text)
    return " ".join(text.replace("**", "").replace("__", "").split())


def _split_sentences(text: str) -> list[str]:
    """`text` cut after an end mark followed by space and a capital, digit, quote or bracket
    (RE2 has no lookaround: the mark and the next sentence's first character are groups)."""
    out, start = [], 0
    for m in _SENTENCE.finditer(text):
        out.append(text[start:m.end(1)])
        start = m.start(2)
    out.append(text[start:])
    return out


def sentences(text: str, limit: int) -> list[str]:
    """The statements of a block: sentences with at least three real words (not a header line
    such as 'User - 03.07.2025 at 6:06')."""
    out = []
    for s in _split_sentences(plain(text)):
        if sum(1 for w in s.split() if w.isalpha() and len(w) >= 3) >= 3:
            out.append(s.strip())
    return out[:limit]


def slug(text: str) -> str:
    value = _NONWORD.sub("-", text.casefold()).strip("-_")
    return value or "node"


@dataclass
class Note:
    source: Node
    blocks: list[Node]
    module: str = ""
    id: str = ""
    statements: list[str] = field(default_factory=list)


def _notes(store: Store) -> list[Note]:
    by_path: dict[str, list[Node]] = defaultdict(list)
    for node in store.iter_nodes():
        if node.source_path:
            by_path[node.source_path].append(node)
    notes = []
    for path in sorted(by_path):
        nodes = by_path[path]
        source = next((n for n in nodes if n.meta.get("role") == "source"), None)
        if source is None:
            continue
        blocks = sorted(
            (n for n in nodes if n is not source and n.meta.get("role") in _TEXT_ROLES),
            key=lambda n: (n.line_start or 0, n.id),
        )
        notes.append(Note(source, blocks))
    return notes


def _select(store: Store, notes: list[Note], goal: str | None, tag: str | None) -> list[Note]:
    if tag:
        want = tag.lstrip("#").casefold()
        notes = [n for n in notes if want in {t.casefold() for t in n.source.meta.get("tags", [])}]
        if not notes:
            raise OverlayError(f"no ingested note has the tag {tag!r}")
    if goal:
        counted = {node for (node, g), (n1, _) in store.all_counts().items() if g == goal and n1}
        goal_notes = {
            n.source.source_path
            for n in notes
            if n.source.kind == NodeKind.GOAL and n.source.title.casefold() == goal.casefold()
        }
        owner = {b.id: n.source.source_path for n in notes for b in [n.source, *n.blocks]}
        linked = {
            owner.get(e.edge.dst or "")
            for e in store.link_edges()
            if owner.get(e.edge.src) in goal_notes
        }
        keep = goal_notes | linked | {owner.get(i) for i in counted}
        notes = [n for n in notes if n.source.source_path in keep]
        if not notes:
            raise OverlayError(
                f"no note serves the goal {goal!r}: no goal note has that title and no note "
                "has positive feedback toward it"
            )
    return notes


def _module_of(note: Note, by: Grouping, root: str) -> str:
    if by == "tag":
        tags = note.source.meta.get("tags", [])
        return slug(tags[0]) if tags else "untagged"
    parent = PurePosixPath(note.source.source_path or "").parent
    return slug(parent.name or root)


def _links(store: Store, notes: list[Note]) -> tuple[dict[str, list[tuple[int, Note]]], int]:
    """Each selected note's links to other selected notes, with the line they are written on;
    and how many links point at notes outside the selection."""
    owner = {b.id: n for n in notes for b in [n.source, *n.blocks]}
    links: dict[str, list[tuple[int, Note]]] = defaultdict(list)
    left_out = 0
    for stored in store.link_edges():
        edge = stored.edge
        src = owner.get(edge.src)
        if src is None or edge.kind != EdgeKind.LINKS_TO:
            continue
        dst = owner.get(edge.dst or "")
        if dst is None:
            left_out += 1
        elif dst is not src:
            links[src.source.id].append((edge.line or 0, dst))
    return links, left_out


def scaffold(
    store: Store,
    *,
    name: str = "overlay",
    goal: str | None = None,
    tag: str | None = None,
    by: Grouping | str = "folder",
    max_statements: int = 6,
) -> str:
    """A passport YAML for the selected notes of `store`, grouped per folder or per tag."""
    if by not in ("folder", "tag"):
        raise ConfigError(f"--by {by!r}: use 'folder' or 'tag'")
    notes = _select(store, _notes(store), goal, tag)
    root = PurePosixPath(notes[0].source.source_path or name).parts[0] if notes else name
    for note in notes:
        note.module = _module_of(note, by, root)
        note.statements = [s for b in note.blocks for s in sentences(b.text, max_statements)]
        note.statements = note.statements[:max_statements]
    notes = [n for n in notes if n.statements]
    if not notes:
        raise OverlayError("the selected notes have no paragraphs to make statements of")
    used: Counter[tuple[str, str]] = Counter()
    for note in notes:
        base = slug(note.source.title)
        used[(note.module, base)] += 1
        k = used[(note.module, base)]
        note.id = base if k == 1 else f"{base}-{k}"
    links, left_out = _links(store, notes)
    groups: dict[str, list[Note]] = defaultdict(list)
    position: dict[int, int] = {}
    for note in notes:
        position[id(note)] = len(groups[note.module])
        groups[note.module].append(note)
    modules: dict[str, list[dict[str, Any]]] = defaultdict(list)
    entries: dict[int, dict[str, Any]] = {}
    methods: list[list[Note]] = []
    for i, note in enumerate(notes):
        targets = [d for _, d in sorted(links[note.source.id], key=lambda x: (x[0], x[1].id))]
        node: dict[str, Any] = {"id": note.id, "title": note.source.title}
        if note.source.meta.get("aliases"):
            node["aliases"] = list(note.source.meta["aliases"])
        node["statements"] = note.statements
        anchors = list(dict.fromkeys(f"[[{d.source.title}]]" for d in targets))
        if anchors:
            node["anchors"] = anchors
        others = _others(groups[note.module], position[id(note)], i)
        node["self_tests"] = [
            {
                "question": T.SELFTEST.format(t=note.source.title),
                "answer": note.statements[0],
                "distractors": [o.statements[0] for o in others],
            }
        ]
        if note.source.kind == NodeKind.METHOD:
            node["meta"] = {"importance": 4}
        node["source"] = f"{note.source.source_path}:{note.blocks[0].line_start or 1}"
        modules[note.module].append(node)
        entries[id(note)] = node
        if note.source.kind == NodeKind.METHOD:
            methods.append(targets)
    for targets in methods:
        _chain(targets, entries)
    for entry in entries.values():
        entry["source"] = entry.pop("source")  # provenance last, after any transitions
    spec = {
        "name": name,
        "version": "0.1.0",
        "description": f"Scaffolded by `overlay dataset init` from {len(notes)} notes.",
        "base_model": "smollm2",
        "formats": ["sft-chat"],
        "modules": [{"id": m, "nodes": nodes} for m, nodes in sorted(modules.items())],
    }
    header = [
        "# Architectural passport scaffolded from the overlay; edit freely, then",
        "#   overlay dataset check THIS_FILE && overlay dataset build THIS_FILE -o DIR",
        f"# {left_out} links were left out: their notes are not in this selection.",
    ]
    body = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + "\n" + body


def _others(group: list[Note], pos: int, i: int, k: int = 3) -> list[Note]:
    """Up to `k` notes of a module other than the one at `pos`, starting at offset `i`
    (rotating), so each note gets different distractors; O(k), not a pass per note."""
    m = len(group) - 1
    if m <= 0:
        return []
    picks = [(i % m + t) % m for t in range(min(k, m))]
    return [group[j if j < pos else j + 1] for j in picks]


def _chain(targets: list[Note], entries: dict[int, dict[str, Any]]) -> None:
    """A method's linked notes, in step order, as `precedes` transitions (first visit only,
    so a step that sends the reader back does not make the chain loop)."""
    order = list({id(n): n for n in targets}.values())
    for a, b in itertools.pairwise(order):
        ref = b.id if a.module == b.module else f"{b.module}.{b.id}"
        step = {"to": ref, "relation": "precedes"}
        transitions = entries[id(a)].setdefault("transitions", [])
        if step not in transitions:
            transitions.append(step)
