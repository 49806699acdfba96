"""Ingest a vault: walk folders, read and repair text, parse notes, write nodes and edges,
resolve links, and embed what is new. Re-ingest touches only files whose bytes changed.

Each file is written in its own change (one transaction + one event), so a crash mid-way
leaves every file either fully old or fully new, and the next ingest finishes the job.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overlay.config import IngestConfig
from overlay.errors import IngestError
from overlay.graph import Edge, EdgeKind, Node, NodeKind, stable_id
from overlay.ingest.links import Resolver, anchors_of, make_anchor_lookup, strip_suffix
from overlay.ingest.markdown import Link, Note, parse_note
from overlay.ingest.repair import NotText, decode
from overlay.progress import Progress
from overlay.store import FileRecord, Store


def _quiet(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class IngestReport:
    """What one ingest did; every count is of files unless named otherwise."""

    files: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    renamed: int = 0
    deleted: int = 0
    repaired: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    nodes_written: int = 0
    links: int = 0
    links_resolved: int = 0
    links_unresolved: int = 0
    embedded: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "renamed": self.renamed,
            "deleted": self.deleted,
            "repaired": len(self.repaired),
            "repaired_files": self.repaired,
            "warnings": self.warnings,
            "nodes_written": self.nodes_written,
            "links": self.links,
            "links_resolved": self.links_resolved,
            "links_unresolved": self.links_unresolved,
            "embedded": self.embedded,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
        }


@dataclass
class Parsed:
    """A changed file, parsed and turned into nodes and edges, not yet written."""

    path: str
    digest: str
    size: int
    mtime_ns: int
    repaired: str | None
    note: Note
    source_id: str = ""
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def file_digest(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _refused(path: Path, base: Path, warnings: list[str]) -> bool:
    """A symlink whose target lies outside the vault: warned about and left out."""
    if path.is_symlink() and not path.resolve().is_relative_to(base):
        warnings.append(f"{path}: skipped, symlink leads outside the vault")
        return True
    return False


def walk(root: Path, config: IngestConfig, warnings: list[str]) -> list[Path]:
    """Note files under `root`, sorted; symlinks that leave the vault are refused."""
    base = root.resolve()
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [
            d
            for d in sorted(dirnames)
            if d not in config.ignore_dirs
            and d[0] != "."
            and not _refused(here / d, base, warnings)
        ]
        found += [
            here / f
            for f in sorted(filenames)
            if f[0] != "."
            and Path(f).suffix.lower() in config.extensions
            and not _refused(here / f, base, warnings)
        ]
    return sorted(found)


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
    for block in note.blocks:
        node_id = stable_id(source_id, block.anchor)
        ids.append(node_id)
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
        nodes.append(
            Node(
                node_id,
                NodeKind.BLOCK,
                title,
                block.text,
                path,
                block.line_start,
                block.line_end,
                meta,
            )
        )
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


def vault_path(root: Path, file: Path) -> str:
    """How a note is named in the store: the vault folder's name, then the relative path."""
    return posixpath.join(root.name or "vault", file.relative_to(root).as_posix())


def ingest(
    store: Store,
    paths: list[Path],
    config: IngestConfig | None = None,
    progress: Progress = _quiet,
) -> IngestReport:
    """Read the given folders (vaults) or files into the store, incrementally."""
    config = config or IngestConfig()
    report = IngestReport()
    t0 = time.perf_counter()
    jobs: list[tuple[str, Path]] = []  # (store path, file on disk)
    scopes: list[str] = []  # store-path prefixes whose vanished files count as deleted
    for given in paths:
        if not given.exists():
            raise IngestError("no such file or folder", given)
        if given.is_dir():
            root = given.resolve()
            jobs += [(vault_path(root, f), f) for f in walk(root, config, report.warnings)]
            scopes.append((root.name or "vault") + "/")
        else:
            root = given.resolve().parent
            jobs.append((vault_path(root, given.resolve()), given))
    report.files = len(jobs)

    known = {r.path: r for r in store.files()}
    changed: list[Parsed] = []
    for done, (path, file) in enumerate(jobs, 1):
        progress("read", done, len(jobs))
        parsed = _read(path, file, config, known.get(path), report)
        if parsed is not None:
            changed.append(parsed)
    on_disk = {p for p, _ in jobs}
    vanished = [r for p, r in known.items() if p not in on_disk and p.startswith(tuple(scopes))]
    by_hash = {r.hash: r for r in vanished}
    renames: dict[str, str] = {}
    for parsed in changed:
        old = known.get(parsed.path)
        if old is None and parsed.digest in by_hash:
            renames[parsed.path] = by_hash.pop(parsed.digest).path
        was = known.get(renames.get(parsed.path, parsed.path))
        build(parsed, was.source_id if was else stable_id(parsed.path))
    report.seconds["parse"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    surface_changed = False
    for done, parsed in enumerate(changed, 1):
        progress("write", done, len(changed))
        old_path = renames.get(parsed.path)
        written, moved_anchors = write(store, parsed, old_path=old_path)
        report.nodes_written += written
        surface_changed |= moved_anchors
        if old_path:
            report.renamed += 1
        elif parsed.path in known:
            report.updated += 1
        else:
            report.added += 1
    moved = set(renames.values())
    gone = [r for r in vanished if r.path not in moved]
    for record in gone:
        with store.change("ingest.delete", path=record.path):
            store.delete_nodes([n.id for n in store.nodes_of_source(record.path)])
    report.deleted = len(gone)
    full = bool(surface_changed or report.added or report.renamed or report.deleted)
    report.links, report.links_resolved, _ = resolve_links(store, only_unresolved=not full)
    report.links_unresolved = report.links - report.links_resolved
    report.seconds["index"] = time.perf_counter() - t1
    return report


def _unchanged(path: str, known: FileRecord, report: IngestReport) -> None:
    """Count a file as unchanged; a repair made when it was ingested is still reported."""
    report.unchanged += 1
    if known.repaired:
        report.repaired[path] = known.repaired


def _read(
    path: str, file: Path, config: IngestConfig, known: FileRecord | None, report: IngestReport
) -> Parsed | None:
    """Read one file; None when it is unchanged or must be skipped (with a warning)."""
    try:
        stat = file.stat()
        size, mtime_ns = stat.st_size, stat.st_mtime_ns
        if known is not None and (known.size, known.mtime_ns) == (size, mtime_ns):
            _unchanged(path, known, report)  # same size and time: not even read
            return None
        if size > config.max_file_bytes:
            report.warnings.append(
                f"{file}: skipped, {size:,} bytes is over the {config.max_file_bytes:,}-byte limit"
            )
            return None
        raw = file.read_bytes()
    except OSError as exc:
        report.warnings.append(f"{file}: skipped, cannot read ({exc.strerror or exc})")
        return None
    digest = file_digest(raw)
    if known is not None and known.hash == digest:
        _unchanged(path, known, report)
        return None
    try:
        decoded = decode(raw)
    except NotText as exc:
        report.warnings.append(f"{file}: skipped, {exc}")
        return None
    if decoded.encoding != "utf-8":
        report.warnings.append(f"{file}: not UTF-8; read as {decoded.encoding}")
    if decoded.repaired:
        report.repaired[path] = decoded.repaired
    if not decoded.text.strip():
        report.warnings.append(f"{file}: empty note; kept as a title only")
    try:
        note = parse_note(decoded.text, str(file), strip_suffix(file.name))
    except IngestError as exc:
        report.warnings.append(f"{exc}; file skipped, its stored version kept")
        return None
    report.warnings += note.warnings
    return Parsed(path, digest, size, mtime_ns, decoded.repaired, note)
