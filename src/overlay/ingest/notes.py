"""From a parsed note to what the store holds: its nodes and edges (`build`), written as one
change per file (`write`), and every link pointed at its note or block (`resolve_links`).

Each file is written in its own change (one transaction + one event), so a crash mid-way
leaves every file either fully old or fully new, and the next ingest finishes the job.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from overlay.graph import Edge, EdgeKind, Node, NodeKind, content_hash, stable_id
from overlay.ingest.inline import Link
from overlay.ingest.links import Resolver, anchors_of, make_anchor_lookup
from overlay.ingest.markdown import Note
from overlay.store.base import FileRecord, Store

CONTEXT_CHARS = 500  # how much of the turn before a turn is embedded with it


@dataclass
class Parsed:
    """A changed file, parsed and turned into nodes and edges, not yet written."""

    path: str
    digest: str
    size: int
    mtime_ns: int
    repaired: str | None
    note: Note
    vault: str | None = None
    source_id: str = ""
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def build(parsed: Parsed, source_id: str) -> None:
    """Nodes and edges of one note: a source node, one node per section/callout/block,
    `part_of` edges up the tree, unresolved `links_to`/`serves` edges to be resolved later."""
    note, path = parsed.note, parsed.path
    parsed.source_id = source_id
    kind = NodeKind(note.kind) if note.kind else NodeKind.SOURCE
    fm = json.loads(json.dumps(note.frontmatter, ensure_ascii=False, default=str))
    head = "\n".join(
        filter(
            None,
            [
                note.title,
                "also called: " + ", ".join(note.aliases) if note.aliases else "",
                "tags: " + " ".join("#" + t for t in note.tags) if note.tags else "",
            ],
        )
    )
    lines = [b.line_end for b in note.blocks] or [1]
    source = Node(
        id=source_id,
        kind=kind,
        title=note.title,
        text=head,
        source_path=path,
        line_start=1,
        line_end=max(lines),
        meta={"role": "source", "aliases": note.aliases, "tags": note.tags, "frontmatter": fm},
    )
    nodes, edges = [source], []
    ids: list[str] = []
    last_turn: str | None = None
    said: dict[str, str] = {}  # a session's last turn: the context the next one is read in
    for block in note.blocks:
        node_id = stable_id(source_id, block.anchor)
        ids.append(node_id)
        if block.role == "turn" or (block.role == "callout" and "speaker" in block.meta):
            if last_turn is not None:  # a conversation's turns, each linked to the next
                edges.append(Edge(last_turn, EdgeKind.PRECEDES, node_id))
            last_turn = node_id
        trail = []
        parent = block.parent
        while parent is not None:
            if note.blocks[parent].role in ("section", "callout"):
                trail.append(note.blocks[parent].title)
            parent = note.blocks[parent].parent
        trail = [t for t in reversed(trail) if t.strip().lower() != note.title.strip().lower()]
        title = block.title or " › ".join([note.title, *trail])
        meta = {"role": block.role, "anchor": block.anchor, **block.meta}
        if block.tags:
            meta["tags"] = block.tags
        node = Node(node_id, NodeKind.BLOCK, title, block.text, path, block.line_start,
                    block.line_end, meta)
        if block.role == "turn":
            _in_context(node, said)
        nodes.append(node)
        up = ids[block.parent] if block.parent is not None else source_id
        edges.append(Edge(node_id, EdgeKind.PART_OF, up))
        for link in block.links:
            edges.append(_link_edge(node_id, link, path))
    for link in note.links:
        edges.append(_link_edge(source_id, link, path))
    for goal in note.goals:
        edge = _link_edge(source_id, goal, path)
        edges.append(Edge(edge.src, EdgeKind.SERVES, None, edge.target, edge.line, edge.meta))
    parsed.nodes, parsed.edges = nodes, edges


def _in_context(node: Node, said: dict[str, str]) -> None:
    """A turn keeps the turn before it in its session as `context` (what it is embedded
    after: `dense.embed_text`), and its hash covers it, so a changed context re-embeds it."""
    session = str(node.meta.get("session", ""))
    before = said.get(session)
    said[session] = f"{node.meta.get('speaker', '')}: {node.text}"[:CONTEXT_CHARS]
    if before:
        node.meta["context"] = before
        node.hash = content_hash(f"{node.title}\n{before}\n{node.text}")


def _link_edge(src: str, link: Link, path: str) -> Edge:
    meta: dict[str, Any] = {"style": link.style}
    if link.anchor:
        meta["anchor"] = link.anchor
    if link.alias:
        meta["alias"] = link.alias
    if link.embed:
        meta["embed"] = True
    target = link.target
    if not target:  # [[#Heading]]: a link inside this note
        target, meta["style"] = path, "path"
    elif link.style == "markdown":  # relative to the linking note's folder
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        target, meta["style"] = joined, "path"
    return Edge(src, EdgeKind.LINKS_TO, None, target, link.line, meta)


def _same(a: Node, b: Node) -> bool:
    return (a.hash, a.kind, a.line_start, a.line_end, a.meta, a.source_path) == (
        b.hash,
        b.kind,
        b.line_start,
        b.line_end,
        b.meta,
        b.source_path,
    )


def _surface(nodes: list[Node]) -> tuple[frozenset[str], frozenset[str]]:
    """What links elsewhere can point at: the note's aliases and its heading/block anchors."""
    aliases = frozenset(
        a for n in nodes if n.meta.get("role") == "source" for a in n.meta.get("aliases", [])
    )
    return aliases, frozenset(anchors_of(nodes))


def write(store: Store, parsed: Parsed, *, old_path: str | None = None) -> tuple[int, bool]:
    """Write one parsed note as one change; returns how many nodes were written and whether
    what other notes' links can point at (aliases, headings, block ids) changed."""
    with store.change("ingest.file", path=parsed.path, hash=parsed.digest) as change:
        existing = {n.id: n for n in store.nodes_of_source(old_path or parsed.path)}
        if old_path and old_path != parsed.path:
            store.set_source_path(old_path, parsed.path)
            change.payload["renamed_from"] = old_path
        fresh = [n for n in parsed.nodes if n.id not in existing or not _same(n, existing[n.id])]
        gone = [i for i in existing if i not in {n.id for n in parsed.nodes}]
        store.put_nodes(fresh)
        store.delete_nodes(gone)
        store.delete_edges_from([n.id for n in parsed.nodes])
        store.add_edges(parsed.edges)
        store.put_file(
            FileRecord(
                parsed.path,
                parsed.source_id,
                parsed.digest,
                parsed.size,
                parsed.repaired,
                parsed.mtime_ns,
                parsed.vault,
            )
        )
        change.payload.update(written=len(fresh), removed=len(gone), repaired=parsed.repaired)
    return len(fresh), _surface(list(existing.values())) != _surface(parsed.nodes)


def resolve_links(store: Store, *, only_unresolved: bool = False) -> tuple[int, int, int]:
    """Point link edges at their note (or block); returns (links, resolved, changed).

    A full pass re-resolves every link (notes came or went, so the closest match may differ);
    `only_unresolved` handles the common case of edited notes: just the links with no target."""
    links = store.link_edges(unresolved_only=only_unresolved)
    if not links:
        return (*store.link_counts(), 0)
    records = store.files()
    sources = store.get_nodes([r.source_id for r in records])
    resolver = Resolver(
        (
            r.path,
            list(sources[r.source_id].meta.get("aliases", [])) if r.source_id in sources else [],
        )
        for r in records
    )
    source_of = {r.path: r.source_id for r in records}
    anchor_lookup = make_anchor_lookup(store.nodes_of_source)
    src_paths = {
        n.id: n.source_path or ""
        for n in store.get_nodes(list({s.edge.src for s in links})).values()
    }
    updates: list[tuple[int, str | None]] = []
    for stored in links:
        edge = stored.edge
        target = edge.target or ""
        from_path = src_paths.get(edge.src, "")
        path = resolver.resolve(target, from_path, str(edge.meta.get("style", "wiki")))
        dst = source_of.get(path) if path else None
        anchor = edge.meta.get("anchor")
        if dst and path and anchor:
            dst = anchor_lookup(path, str(anchor)) or dst
        if dst != edge.dst:
            updates.append((stored.id, dst))
    if updates:
        with store.change("ingest.links", changed=len(updates)):
            for edge_id, dst in updates:
                store.set_edge_dst(edge_id, dst)
    return (*store.link_counts(), len(updates))


