"""Ingest a vault: walk folders, read and repair text, parse notes, write nodes and edges,
resolve links. Re-ingest touches only files whose bytes changed; the engine then embeds what
is new.

A vault is known by the id in its `.overlay-vault` file (`overlay.ingest.identity`): its notes'
store paths are the vault's name and the path inside it, so a moved vault re-ingests as renames
and a subfolder ingests with the vault's paths. Ingests of one store take turns (a lock), so
two at once do not both add everything; a symlink loop, an unreadable or binary file, bad
frontmatter each cost a warning and that file only.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overlay import cancel
from overlay.config import IngestConfig
from overlay.errors import ConfigError, IngestError
from overlay.graph import stable_id
from overlay.ingest import chatgpt, conversations, identity
from overlay.ingest.links import strip_suffix
from overlay.ingest.markdown import Note, parse_note
from overlay.ingest.notes import Parsed, build, resolve_links, write
from overlay.ingest.repair import NotText, decode
from overlay.progress import Progress, quiet
from overlay.store import FileRecord, Store


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
    surface_changed: bool = False  # what links can point at (aliases, headings) changed

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


def file_digest(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _refused(path: Path, base: Path, warnings: list[str]) -> bool:
    """A symlink that loops, or whose target lies outside the vault: warned about and left
    out (one warning each; the rest of the vault goes on)."""
    if not path.is_symlink():
        return False
    try:
        target = path.resolve()
    except (OSError, RuntimeError):  # Python says "Symlink loop" with a RuntimeError
        warnings.append(f"{path}: skipped, a symlink loop")
        return True
    if not target.is_relative_to(base):
        warnings.append(f"{path}: skipped, symlink leads outside the vault")
        return True
    return False


def walk(root: Path, config: IngestConfig, warnings: list[str]) -> list[Path]:
    """Note files under `root`, sorted; symlinks that leave the vault or loop are refused."""
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


@dataclass
class Scope:
    """Where one given path lies: its vault's root and id, the vault's name in the store, and
    the store-path prefix under which a file that vanished from disk counts as deleted."""

    root: Path
    vault: str | None
    name: str
    prefix: str | None
    jobs: list[tuple[str, Path]] = field(default_factory=list)  # (store path, file on disk)


def _scope(store: Store, given: Path, config: IngestConfig, report: IngestReport) -> Scope:
    """The vault of `given` (found by its marker, or made one now if a folder) and the files
    to read, named from the vault's root."""
    given = given.resolve()
    found = identity.find(given, report.warnings)
    if found is None and given.is_dir():
        found = identity.claim(given, report.warnings)
    if found is None:  # a loose file: known by its folder's name, as it always was
        name = given.parent.name or "vault"
        return Scope(given.parent, None, name, None, [(f"{name}/{given.name}", given)])
    name = _vault_name(store, found, report)
    scope = Scope(found.root, found.id, name, None)
    if given.is_dir():
        rel = given.relative_to(found.root).as_posix()
        scope.prefix = name + "/" + ("" if rel == "." else rel + "/")
        files = walk(given, config, report.warnings)
    else:
        files = [given]
    scope.jobs = [(posixpath.join(name, f.relative_to(found.root).as_posix()), f) for f in files]
    return scope


def _vault_name(store: Store, vault: identity.Vault, report: IngestReport) -> str:
    """The name `vault`'s paths start with in the store: its folder's name, or that name and
    a piece of its id when another vault has the name. A vault whose folder was renamed, or a
    folder ingested alone before the vault around it, has its files renamed in one change."""
    if vault.id is None:
        return vault.root.name or "vault"
    names = store.vaults()
    taken = {n for i, n in names.items() if i != vault.id}
    wanted = vault.root.name or "vault"
    name = wanted if wanted not in taken else f"{wanted}-{vault.id[:6]}"
    moves: list[tuple[str, str, bool]] = []  # (old name, new name, links to read again)
    if vault.id in names and names[vault.id] != name:
        moves.append((names[vault.id], name, False))
    for inner in identity.nested(vault.root):  # sub-vaults become part of this one
        inner_id = identity.read_marker(inner)
        if inner_id in names and inner_id != vault.id:
            moves.append((names[inner_id], f"{name}/{inner.relative_to(vault.root).as_posix()}",
                          True))
            (inner / identity.MARKER).unlink(missing_ok=True)
    if names.get(vault.id) == name and not moves:
        return name
    with store.change("ingest.vault", vault=vault.id, name=name, moves=moves):
        store.put_vault(vault.id, name)
        for old, new, reread in moves:
            report.renamed += store.move_prefix(old, new, vault.id, reread=reread)
        if vault.id not in names:  # files from before vaults had ids join their vault
            store.move_prefix(name, name, vault.id)
    return name


def ingest(
    store: Store,
    paths: list[Path],
    config: IngestConfig | None = None,
    progress: Progress = quiet,
    then: Callable[[IngestReport], None] | None = None,
) -> IngestReport:
    """Read the given folders (vaults) or files into the store, incrementally, then do `then`
    (embedding what is new) in the same turn. Ingests of one store take turns: the second
    waits, then finds the files the first wrote unchanged."""
    config = config or IngestConfig()
    for given in paths:
        if not given.exists():
            raise IngestError("no such file or folder", given)
    store.check_writable()  # before the lock file, which a read-only folder cannot hold
    with store.lock("ingest"):
        report = _ingest(store, paths, config, progress)
        if then is not None:
            then(report)
        return report


def _ingest(
    store: Store, paths: list[Path], config: IngestConfig, progress: Progress
) -> IngestReport:
    report = IngestReport()
    t0 = time.perf_counter()
    scopes = [_scope(store, given, config, report) for given in paths]
    jobs = [(path, file, s) for s in scopes for path, file in s.jobs]
    report.files = len(jobs)
    known = {r.path: r for r in store.files()}
    on_disk = {p for p, _, _ in jobs}
    prefixes = tuple(s.prefix for s in scopes if s.prefix)
    vanished = [r for p, r in known.items() if p not in on_disk and p.startswith(prefixes)]
    renames: dict[str, str] = {}
    changed, whole = _read_all(jobs, config, known, vanished, renames, report, progress)
    report.seconds["parse"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    _write_all(store, changed, renames, known, report, progress)
    moved = set(renames.values())
    # an ingest cut short by its node limit deletes nothing: a skipped file may be a move
    gone = [r for r in vanished if r.path not in moved] if whole else []
    for record in gone:
        with store.change("ingest.delete", path=record.path):
            store.delete_nodes([n.id for n in store.nodes_of_source(record.path)])
    report.deleted = len(gone)
    full = bool(report.surface_changed or report.added or report.renamed or report.deleted)
    report.links, report.links_resolved, _ = resolve_links(store, only_unresolved=not full)
    report.links_unresolved = report.links - report.links_resolved
    report.seconds["index"] = time.perf_counter() - t1
    return report


def _read_all(
    jobs: list[tuple[str, Path, Scope]],
    config: IngestConfig,
    known: dict[str, FileRecord],
    vanished: list[FileRecord],
    renames: dict[str, str],
    report: IngestReport,
    progress: Progress,
) -> tuple[list[Parsed], bool]:
    """Read and build every changed file, noting in `renames` which are moves of vanished
    ones. False with the files read so far when the next would pass `max_nodes`."""
    by_hash = {r.hash: r for r in vanished}
    changed: list[Parsed] = []
    nodes = 0
    for done, (path, file, scope) in enumerate(jobs, 1):
        cancel.check()  # a server shutting down stops between files: each is whole
        progress("read", done, len(jobs))
        parsed = _read(path, file, config, known.get(path), report, scope)
        if parsed is None:
            continue
        moved_from = by_hash.pop(parsed.digest).path if (
            parsed.path not in known and parsed.digest in by_hash) else None
        was = known.get(moved_from or parsed.path)
        build(parsed, was.source_id if was else stable_id(parsed.path))
        nodes += len(parsed.nodes)
        if nodes > config.max_nodes:
            report.warnings.append(
                f"{file}: skipped with the {len(jobs) - done:,} files after it: the ingest "
                f"would write over {config.max_nodes:,} nodes (ingest.max_nodes); their stored "
                "versions are kept")
            return changed, False
        if moved_from:
            renames[parsed.path] = moved_from
        changed.append(parsed)
    return changed, True


def _write_all(
    store: Store,
    changed: list[Parsed],
    renames: dict[str, str],
    known: dict[str, FileRecord],
    report: IngestReport,
    progress: Progress,
) -> None:
    for done, parsed in enumerate(changed, 1):
        cancel.check()
        progress("write", done, len(changed))
        old_path = renames.get(parsed.path)
        written, moved_anchors = write(store, parsed, old_path=old_path)
        report.nodes_written += written
        report.surface_changed |= moved_anchors
        if old_path:
            report.renamed += 1
        elif parsed.path in known:
            report.updated += 1
        else:
            report.added += 1


def _unchanged(path: str, known: FileRecord, report: IngestReport) -> None:
    """Count a file as unchanged; a repair made when it was ingested is still reported."""
    report.unchanged += 1
    if known.repaired:
        report.repaired[path] = known.repaired


def _read(
    path: str,
    file: Path,
    config: IngestConfig,
    known: FileRecord | None,
    report: IngestReport,
    scope: Scope,
) -> Parsed | None:
    """Read one file; None when it is unchanged or must be skipped (with a warning)."""
    try:
        stat = file.stat()
        size, mtime_ns = stat.st_size, stat.st_mtime_ns
        if known is not None and (known.size, known.mtime_ns) == (size, mtime_ns):
            _unchanged(path, known, report)  # same size and time: not even read
            return None
        export = file.suffix.lower() == ".json"
        limit = config.max_export_bytes if export else config.max_file_bytes
        if size > limit:
            setting = "max_export_bytes" if export else "max_file_bytes"
            report.warnings.append(
                f"{file}: skipped, {size:,} bytes is over the {limit:,}-byte limit "
                f"(ingest.{setting})")
            return None
        raw = file.read_bytes()
    except OSError as exc:
        report.warnings.append(f"{file}: skipped, cannot read ({exc.strerror or exc})")
        return None
    digest = file_digest(raw)
    if known is not None and known.hash == digest:
        _unchanged(path, known, report)
        return None
    try:  # a reader that fails on a file costs that file, with a warning that names it
        found = _parse(raw, file, config, report, path, scope.root)
    except (NotText, ConfigError) as exc:
        report.warnings.append(f"{file}: skipped, {exc}")
        return None
    except IngestError as exc:
        report.warnings.append(f"{exc}; file skipped, its stored version kept")
        return None
    except (RecursionError, MemoryError, ValueError, TypeError) as exc:
        report.warnings.append(f"{file}: skipped, it could not be read ({type(exc).__name__}); "
                               "its stored version kept")
        return None
    if found is None:
        return None
    note, repaired = found
    report.warnings += note.warnings
    return Parsed(path, digest, size, mtime_ns, repaired, note, vault=scope.vault)


def _parse(raw: bytes, file: Path, config: IngestConfig, report: IngestReport, path: str,
           root: Path) -> tuple[Note, str | None] | None:
    """The note a file's bytes hold and the repair its text needed, or None (warned about)."""
    title = strip_suffix(file.name)
    if file.suffix.lower() == ".json" and chatgpt.looks_like(raw):
        sessions, warnings = chatgpt.read(raw, str(file), config.max_blocks)
        report.warnings += warnings
        if not sessions:
            report.warnings.append(f"{file}: skipped, no conversation in it could be read")
            return None
        return conversations.note(title, sessions), None
    decoded = decode(raw, identity.encoding_of(file, root, config.encoding))
    if decoded.encoding != "utf-8" and not config.encoding:
        report.warnings.append(f"{file}: not UTF-8; read as {decoded.encoding}")
    if decoded.repaired:
        report.repaired[path] = decoded.repaired
    if not decoded.text.strip():
        report.warnings.append(f"{file}: empty note; kept as a title only")
    note = conversations.read(decoded.text, str(file), title)
    if note is None and file.suffix.lower() == ".json":
        report.warnings.append(f"{file}: skipped, not a conversation export (ChatGPT's "
                               "conversations.json or LoCoMo's JSON)")
        return None
    note = note or parse_note(decoded.text, str(file), title, config.max_frontmatter_bytes,
                              config.frontmatter_anchors, config.max_blocks)
    if len(note.blocks) > config.max_blocks:
        report.warnings.append(
            f"{file}: {len(note.blocks):,} blocks, only the first {config.max_blocks:,} kept "
            "(ingest.max_blocks)")
        del note.blocks[config.max_blocks :]
    return note, decoded.repaired
