"""The SQLite store: one file, WAL, foreign keys, FTS5, append-only event log.

Every write happens inside `change()`, which is one transaction that ends with exactly one
event; a crash at any point leaves the last committed state.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from overlay.errors import SchemaError, StoreError
from overlay.graph import Edge, EdgeKind, Node, NodeKind
from overlay.store.base import Change, Event, FileRecord, StoredEdge, Vector
from overlay.store.migrations import MIGRATIONS, SCHEMA_VERSION

_NODE_COLS = "id, kind, title, text, source_path, line_start, line_end, hash, meta"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _node(row: sqlite3.Row | tuple[Any, ...]) -> Node:
    return Node(
        id=row[0],
        kind=NodeKind(row[1]),
        title=row[2],
        text=row[3],
        source_path=row[4],
        line_start=row[5],
        line_end=row[6],
        hash=row[7],
        meta=json.loads(row[8]),
    )


def _edge(row: tuple[Any, ...]) -> Edge:
    return Edge(
        src=row[0],
        dst=row[1],
        kind=EdgeKind(row[2]),
        target=row[3],
        line=row[4],
        meta=json.loads(row[5]),
    )


class SQLiteStore:
    """The default store. Open with `SQLiteStore(path)`; it creates or upgrades the schema."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        self.migrated_from: int | None = None
        if not self.path.exists():
            if not create:
                raise StoreError(f"no overlay store at {self.path}; run `overlay init` first")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA busy_timeout = 5000")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not an overlay store ({exc})") from None
        self._depth = 0
        self._batch = False
        self._migrate()

    # ----------------------------------------------------------------- schema
    def _migrate(self) -> None:
        db = self.db
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not an overlay store ({exc})") from None
        if tables and "_migrations" not in tables:
            raise StoreError(
                f"{self.path} is an SQLite file but not an overlay store; choose another --db path"
            )
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"{self.path} has schema version {version}, newer than this overlay knows "
                f"({SCHEMA_VERSION}); upgrade overlay (pip install -U overlay) to open it"
            )
        if "_migrations" in tables:
            applied = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
            known = [m.name for m in MIGRATIONS[: len(applied)]]
            if applied != known or len(applied) != version:
                raise SchemaError(
                    f"{self.path}: its migration history {applied} does not match this overlay's "
                    f"{known}; it was written by a different build"
                )
        if version == SCHEMA_VERSION:
            return
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
            )
            for migration in MIGRATIONS[version:]:
                for statement in _split_sql(migration.sql):
                    db.execute(statement)
                db.execute("INSERT INTO _migrations VALUES (?, ?)", (migration.name, _now()))
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            db.execute("ROLLBACK")
            raise SchemaError(
                f"{self.path}: upgrading the schema failed ({exc}); nothing changed"
            ) from None
        if version:
            self.migrated_from = version

    def close(self) -> None:
        self.db.close()

    def copy_to(self, path: Path) -> None:
        """A consistent copy of the whole store in one new file (VACUUM INTO)."""
        self.db.execute("VACUUM INTO ?", (str(path),))

    # ------------------------------------------------------------ transactions
    @contextmanager
    def batch(self) -> Iterator[None]:
        """Many changes, each with its own event, in one transaction (bulk feedback)."""
        if self._depth or self._batch:
            raise StoreError("a batch cannot start inside a change or another batch")
        self.db.execute("BEGIN IMMEDIATE")
        self._batch = True
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        finally:
            self._batch = False

    @contextmanager
    def change(self, kind: str, **payload: Any) -> Iterator[Change]:
        """One transaction + one event. Nested changes fold into the outer one."""
        change = Change(kind, dict(payload))
        if self._batch and not self._depth:
            self._depth = 1
            try:
                yield change
                change.event_id = self._log(change)
            finally:
                self._depth = 0
            return
        if self._depth:
            self._depth += 1
            try:
                yield change
            finally:
                self._depth -= 1
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield change
            change.event_id = self._log(change)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0

    def _log(self, change: Change) -> int:
        cur = self.db.execute(
            "INSERT INTO events(ts, kind, payload) VALUES (?, ?, ?)",
            (_now(), change.kind, json.dumps(change.payload, ensure_ascii=False, default=str)),
        )
        event_id = int(cur.lastrowid or 0)
        targets = change.payload.get("undoes") or []
        self.db.executemany(
            "INSERT INTO undo_links(target, undo) VALUES (?, ?)", ((t, event_id) for t in targets)
        )
        return event_id

    def is_undone(self, event_id: int) -> bool:
        """Whether an event's effect is undone now: some undo of it is not itself undone."""
        undos = [
            r[0]
            for r in self.db.execute("SELECT undo FROM undo_links WHERE target = ?", (event_id,))
        ]
        return any(not self.is_undone(u) for u in undos)

    def _writing(self) -> None:
        if not self._depth:
            raise StoreError("write outside a change: wrap it in `with store.change(...)`")

    # ------------------------------------------------------------------ nodes
    def put_nodes(self, rows: Sequence[tuple[Node, str, str]]) -> None:
        self._writing()
        now = _now()
        db = self.db
        for node, terms, title_terms in rows:
            key = db.execute(
                "INSERT INTO nodes(id, kind, title, text, source_path, line_start, line_end, hash,"
                " meta, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET kind=excluded.kind, title=excluded.title,"
                " text=excluded.text, source_path=excluded.source_path,"
                " line_start=excluded.line_start, line_end=excluded.line_end, hash=excluded.hash,"
                " meta=excluded.meta, updated_at=excluded.updated_at RETURNING key",
                (
                    node.id,
                    node.kind.value,
                    node.title,
                    node.text,
                    node.source_path,
                    node.line_start,
                    node.line_end,
                    node.hash,
                    json.dumps(node.meta, ensure_ascii=False),
                    now,
                    now,
                ),
            ).fetchone()[0]
            db.execute("DELETE FROM fts WHERE rowid = ?", (key,))
            db.execute(
                "INSERT INTO fts(rowid, title, body) VALUES (?, ?, ?)", (key, title_terms, terms)
            )

    def get_node(self, node_id: str) -> Node | None:
        row = self.db.execute(f"SELECT {_NODE_COLS} FROM nodes WHERE id = ?", (node_id,)).fetchone()
        return _node(row) if row else None

    def get_nodes(self, node_ids: Sequence[str]) -> dict[str, Node]:
        out: dict[str, Node] = {}
        for chunk in _chunks(list(node_ids)):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT {_NODE_COLS} FROM nodes WHERE id IN ({marks})", chunk
            ):
                out[row[0]] = _node(row)
        return out

    def find_nodes(self, prefix: str, limit: int = 10) -> list[Node]:
        """Nodes whose id starts with `prefix` (users type short ids)."""
        rows = self.db.execute(
            f"SELECT {_NODE_COLS} FROM nodes WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (prefix, prefix + "\uffff", limit),
        )
        return [_node(r) for r in rows]

    def nodes_of_source(self, source_path: str) -> list[Node]:
        rows = self.db.execute(
            f"SELECT {_NODE_COLS} FROM nodes WHERE source_path = ? ORDER BY line_start, key",
            (source_path,),
        )
        return [_node(r) for r in rows]

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        self._writing()
        for chunk in _chunks(list(node_ids)):
            self.db.execute(f"DELETE FROM nodes WHERE id IN ({','.join('?' * len(chunk))})", chunk)

    def set_source_path(self, old: str, new: str) -> None:
        self._writing()
        self.db.execute("UPDATE nodes SET source_path = ? WHERE source_path = ?", (new, old))
        self.db.execute("UPDATE files SET path = ? WHERE path = ?", (new, old))

    def iter_nodes(self) -> Iterator[Node]:
        for row in self.db.execute(f"SELECT {_NODE_COLS} FROM nodes ORDER BY key"):
            yield _node(row)

    # ------------------------------------------------------------------ edges
    def add_edges(self, edges: Iterable[Edge]) -> None:
        self._writing()
        self.db.executemany(
            "INSERT INTO edges(src, dst, kind, target, line, meta) VALUES (?,?,?,?,?,?)",
            (
                (
                    e.src,
                    e.dst,
                    e.kind.value,
                    e.target,
                    e.line,
                    json.dumps(e.meta, ensure_ascii=False),
                )
                for e in edges
            ),
        )

    def delete_edges_from(self, node_ids: Sequence[str]) -> None:
        self._writing()
        for chunk in _chunks(list(node_ids)):
            self.db.execute(f"DELETE FROM edges WHERE src IN ({','.join('?' * len(chunk))})", chunk)

    def link_edges(self, unresolved_only: bool = False) -> list[StoredEdge]:
        rows = self.db.execute(
            "SELECT id, src, dst, kind, target, line, meta FROM edges WHERE target IS NOT NULL"
            + (" AND dst IS NULL" if unresolved_only else "")
        )
        return [StoredEdge(r[0], _edge(r[1:])) for r in rows]

    def link_counts(self) -> tuple[int, int]:
        """(links written in notes, how many of them point at a node)."""
        row = self.db.execute(
            "SELECT count(*), count(dst) FROM edges WHERE target IS NOT NULL"
        ).fetchone()
        return int(row[0]), int(row[1])

    def set_edge_dst(self, edge_id: int, dst: str | None) -> None:
        self._writing()
        self.db.execute("UPDATE edges SET dst = ? WHERE id = ?", (dst, edge_id))

    def edges_of(self, node_id: str) -> list[Edge]:
        rows = self.db.execute(
            "SELECT src, dst, kind, target, line, meta FROM edges WHERE src = ? OR dst = ?"
            " ORDER BY id",
            (node_id, node_id),
        )
        return [_edge(r) for r in rows]

    def neighbours(
        self, node_ids: Sequence[str], kinds: Sequence[EdgeKind] | None = None
    ) -> list[tuple[str, str, str]]:
        """(from, to, kind) for every resolved edge touching `node_ids`, in both directions."""
        out: list[tuple[str, str, str]] = []
        kind_sql = ""
        kind_args: list[str] = []
        if kinds:
            kind_sql = f" AND kind IN ({','.join('?' * len(kinds))})"
            kind_args = [k.value for k in kinds]
        for chunk in _chunks(list(node_ids), 400):
            marks = ",".join("?" * len(chunk))
            out += self.db.execute(
                f"SELECT src, dst, kind FROM edges WHERE src IN ({marks}) AND dst IS NOT NULL"
                f"{kind_sql} UNION ALL SELECT dst, src, kind FROM edges WHERE dst IN ({marks})"
                f"{kind_sql}",
                [*chunk, *kind_args, *chunk, *kind_args],
            ).fetchall()
        return out

    # ------------------------------------------------------------------ files
    def file_record(self, path: str) -> FileRecord | None:
        row = self.db.execute(
            "SELECT path, source_id, hash, size, repaired, mtime_ns FROM files WHERE path = ?",
            (path,),
        ).fetchone()
        return FileRecord(*row) if row else None

    def files(self) -> list[FileRecord]:
        rows = self.db.execute(
            "SELECT path, source_id, hash, size, repaired, mtime_ns FROM files ORDER BY path"
        )
        return [FileRecord(*r) for r in rows]

    def put_file(self, record: FileRecord) -> None:
        self._writing()
        self.db.execute(
            "INSERT INTO files(path, source_id, hash, size, mtime_ns, repaired, ingested_at)"
            " VALUES (?,?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET source_id=excluded.source_id,"
            " hash=excluded.hash, size=excluded.size, mtime_ns=excluded.mtime_ns,"
            " repaired=excluded.repaired, ingested_at=excluded.ingested_at",
            (
                record.path,
                record.source_id,
                record.hash,
                record.size,
                record.mtime_ns,
                record.repaired,
                _now(),
            ),
        )

    # ---------------------------------------------------------------- lexical
    def lexical_search(self, terms: Sequence[str], limit: int) -> list[tuple[str, float]]:
        """BM25 over pre-stemmed terms (title weighted 2×); higher score is better."""
        if not terms:
            return []
        query = " OR ".join('"' + t.replace('"', '""') + '"' for t in dict.fromkeys(terms))
        # rank inside FTS5 first, join only the winners: 3× faster than joining every match
        rows = self.db.execute(
            "SELECT n.id, r.s FROM (SELECT rowid, bm25(fts, 2.0, 1.0) AS s FROM fts"
            " WHERE fts MATCH ? ORDER BY s LIMIT ?) r JOIN nodes n ON n.key = r.rowid ORDER BY r.s",
            (query, limit),
        )
        return [(r[0], -float(r[1])) for r in rows]

    def doc_freqs(self, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(about how many nodes are indexed, how many of them contain each term)."""
        uniq = list(dict.fromkeys(terms))
        # max(key) is O(1) and close to the node count; exactness does not matter for a ratio
        total = int(self.db.execute("SELECT max(key) FROM nodes").fetchone()[0] or 0)
        found: dict[str, int] = {}
        for chunk in _chunks(uniq):
            found.update(
                self.db.execute(
                    f"SELECT term, doc FROM fts_vocab WHERE term IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            )
        return total, {t: int(found.get(t, 0)) for t in uniq}

    # ---------------------------------------------------------------- vectors
    def put_vectors(self, node_ids: Sequence[str], model: str, vectors: Vector) -> None:
        self._writing()
        keys = self._keys(node_ids)
        self.db.executemany(
            "INSERT INTO vectors(key, model, vec) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE"
            " SET model=excluded.model, vec=excluded.vec",
            (
                (keys[nid], model, np.ascontiguousarray(vec, dtype=np.float32).tobytes())
                for nid, vec in zip(node_ids, vectors, strict=True)
                if nid in keys
            ),
        )

    def nodes_missing_vectors(self, model: str, limit: int | None = None) -> list[Node]:
        cols = ", ".join("n." + c.strip() for c in _NODE_COLS.split(","))
        rows = self.db.execute(
            f"SELECT {cols} FROM nodes n LEFT JOIN vectors v ON v.key = n.key AND v.model = ?"
            " WHERE v.key IS NULL ORDER BY n.key LIMIT ?",
            (model, -1 if limit is None else limit),
        )
        return [_node(r) for r in rows]

    def count_vectors(self, model: str) -> int:
        row = self.db.execute("SELECT count(*) FROM vectors WHERE model = ?", (model,)).fetchone()
        return int(row[0])

    def count_missing_vectors(self, model: str) -> int:
        row = self.db.execute(
            "SELECT count(*) FROM nodes n LEFT JOIN vectors v ON v.key = n.key AND v.model = ?"
            " WHERE v.key IS NULL",
            (model,),
        ).fetchone()
        return int(row[0])

    def iter_vectors(self, model: str, batch: int = 50_000) -> Iterator[tuple[list[int], Vector]]:
        last = -1
        while True:
            rows = self.db.execute(
                "SELECT key, vec FROM vectors WHERE model = ? AND key > ? ORDER BY key LIMIT ?",
                (model, last, batch),
            ).fetchall()
            if not rows:
                return
            keys = [r[0] for r in rows]
            yield keys, np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            last = keys[-1]

    def vector_models(self) -> list[str]:
        """Names of the embedders whose vectors the store holds (an index makes this cheap)."""
        rows = self.db.execute("SELECT DISTINCT model FROM vectors ORDER BY model")
        return [r[0] for r in rows]

    def get_vectors(self, keys: Sequence[int], model: str) -> tuple[list[int], Vector]:
        found: list[int] = []
        vecs: list[Vector] = []
        for chunk in _chunks(list(keys)):
            for k, blob in self.db.execute(
                "SELECT key, vec FROM vectors WHERE model = ? AND key IN "
                f"({','.join('?' * len(chunk))})",
                [model, *chunk],
            ):
                found.append(k)
                vecs.append(np.frombuffer(blob, dtype=np.float32))
        return found, (np.vstack(vecs) if vecs else np.zeros((0, 0), dtype=np.float32))

    def vector_changes(self, since: int) -> tuple[int, list[tuple[int, str]]]:
        """The last log sequence and, per key changed after `since`, its latest operation."""
        rows = self.db.execute(
            "SELECT seq, key, op FROM vector_log WHERE seq > ? ORDER BY seq", (since,)
        ).fetchall()
        last = rows[-1][0] if rows else self.vector_seq()
        latest: dict[int, str] = {}
        for _, key, op in rows:
            latest[key] = op
        return max(last, since), list(latest.items())

    def vector_seq(self) -> int:
        row = self.db.execute("SELECT max(seq) FROM vector_log").fetchone()
        return int(row[0] or 0)

    def ids_of_keys(self, keys: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for chunk in _chunks(list(keys)):
            out.update(
                self.db.execute(
                    f"SELECT key, id FROM nodes WHERE key IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
            )
        return out

    def _keys(self, node_ids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in _chunks(list(node_ids)):
            out.update(
                self.db.execute(
                    f"SELECT id, key FROM nodes WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
            )
        return out

    # ------------------------------------------------------- traces, counts
    def put_trace(self, trace_id: str, question: str, goal: str, payload: dict[str, Any]) -> None:
        self._writing()
        self.db.execute(
            "INSERT INTO traces(id, ts, question, goal, payload) VALUES (?,?,?,?,?)",
            (trace_id, _now(), question, goal, json.dumps(payload, ensure_ascii=False)),
        )

    def get_trace(self, trace_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT payload FROM traces WHERE id = ?", (trace_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def find_traces(self, prefix: str, limit: int = 10) -> list[str]:
        rows = self.db.execute(
            "SELECT id FROM traces WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (prefix, prefix + "\uffff", limit),
        )
        return [r[0] for r in rows]

    def counts(self, node_ids: Sequence[str], goal: str) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for chunk in _chunks(list(node_ids)):
            rows = self.db.execute(
                f"SELECT node_id, s, f FROM counts WHERE goal = ? AND node_id IN "
                f"({','.join('?' * len(chunk))})",
                [goal, *chunk],
            )
            out.update({r[0]: (int(r[1]), int(r[2])) for r in rows})
        return out

    def counts_of(self, node_id: str) -> dict[str, tuple[int, int]]:
        rows = self.db.execute(
            "SELECT goal, s, f FROM counts WHERE node_id = ? ORDER BY goal", (node_id,)
        )
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def goal_totals(self, goal: str) -> tuple[int, int]:
        row = self.db.execute(
            "SELECT coalesce(sum(s), 0), coalesce(sum(f), 0) FROM counts WHERE goal = ?", (goal,)
        ).fetchone()
        return int(row[0]), int(row[1])

    def add_counts(self, rows: Iterable[tuple[str, str, int, int]]) -> None:
        """Add (node, goal, Δs, Δf); a row back at 0/0 is removed, so undo leaves no trace."""
        self._writing()
        for node_id, goal, ds, df in rows:
            self.db.execute(
                "INSERT INTO counts(node_id, goal, s, f) VALUES (?,?,?,?)"
                " ON CONFLICT(node_id, goal) DO UPDATE SET s = s + excluded.s, f = f + excluded.f",
                (node_id, goal, ds, df),
            )
            if ds < 0 or df < 0:  # only a decrement can bring a row back to 0/0
                self.db.execute(
                    "DELETE FROM counts WHERE node_id = ? AND goal = ? AND s = 0 AND f = 0",
                    (node_id, goal),
                )

    def all_counts(self) -> dict[tuple[str, str], tuple[int, int]]:
        rows = self.db.execute("SELECT node_id, goal, s, f FROM counts")
        return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}

    # ---------------------------------------------------------- co-activation
    def add_coactivations(self, rows: Iterable[tuple[str, str, int, float, int, int]]) -> None:
        """Add (a, b, Δasks, Δlevel, Δrejected, Δaccepted) with a < b; zero rows vanish."""
        self._writing()
        for a, b, asks, level, rejected, accepted in rows:
            self.db.execute(
                "INSERT INTO coactivations(a, b, asks, level, rejected, accepted)"
                " VALUES (?,?,?,?,?,?)"
                " ON CONFLICT(a, b) DO UPDATE SET asks = asks + excluded.asks,"
                " level = level + excluded.level, rejected = rejected + excluded.rejected,"
                " accepted = accepted + excluded.accepted",
                (a, b, asks, level, rejected, accepted),
            )
            self.db.execute(
                "DELETE FROM coactivations WHERE a = ? AND b = ? AND asks = 0 AND rejected = 0"
                " AND accepted = 0",
                (a, b),
            )

    def coactivations(self, min_asks: int = 1) -> list[tuple[str, str, int, float, int, int]]:
        rows = self.db.execute(
            "SELECT a, b, asks, level, rejected, accepted FROM coactivations WHERE asks >= ?"
            " ORDER BY asks DESC, level DESC, a, b",
            (min_asks,),
        )
        return [(r[0], r[1], int(r[2]), float(r[3]), int(r[4]), int(r[5])) for r in rows]

    # ------------------------------------------------------------ modulation
    def add_modulation(self, rows: Iterable[tuple[str, str, float]]) -> None:
        """Add (name, target, Δvalue); values are kept to 9 decimals so a delta and its
        inverse cancel exactly, and a row back at 0 is removed."""
        self._writing()
        for name, target, delta in rows:
            self.db.execute(
                "INSERT INTO modulation(name, target, value) VALUES (?,?,ROUND(?, 9))"
                " ON CONFLICT(name, target) DO UPDATE SET value = ROUND(value + excluded.value, 9)",
                (name, target, delta),
            )
            self.db.execute(
                "DELETE FROM modulation WHERE name = ? AND target = ? AND value = 0",
                (name, target),
            )

    def modulation(self) -> dict[tuple[str, str], float]:
        rows = self.db.execute("SELECT name, target, value FROM modulation ORDER BY name, target")
        return {(r[0], r[1]): float(r[2]) for r in rows}

    def latest_trace(self) -> str | None:
        row = self.db.execute("SELECT id FROM traces ORDER BY ts DESC, rowid DESC LIMIT 1")
        found = row.fetchone()
        return found[0] if found else None

    def linked(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of the (a, b) pairs already have an edge, either way."""
        out = set()
        for a, b in pairs:
            row = self.db.execute(
                "SELECT 1 FROM edges WHERE (src = ? AND dst = ?) OR (src = ? AND dst = ?) LIMIT 1",
                (a, b, b, a),
            ).fetchone()
            if row:
                out.add((a, b))
        return out

    def delete_edge(self, edge: Edge) -> None:
        """Remove one edge equal to `edge` (src, dst, kind)."""
        self._writing()
        self.db.execute(
            "DELETE FROM edges WHERE id = (SELECT id FROM edges WHERE src = ? AND dst IS ?"
            " AND kind = ? ORDER BY id DESC LIMIT 1)",
            (edge.src, edge.dst, edge.kind.value),
        )

    # ---------------------------------------------------------- log, summary
    def _events(self, where: str, args: tuple[Any, ...]) -> list[Event]:
        rows = self.db.execute(f"SELECT id, ts, kind, payload FROM events {where}", args)
        return [Event(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def event(self, event_id: int) -> Event | None:
        found = self._events("WHERE id = ?", (event_id,))
        return found[0] if found else None

    def events_after(self, event_id: int) -> list[Event]:
        return self._events("WHERE id > ? ORDER BY id", (event_id,))

    def feedback_events(self, trace_id: str) -> list[Event]:
        """Feedback events on one trace (indexed: feedback must stay O(1) per event)."""
        return self._events(
            "WHERE kind = 'feedback' AND json_extract(payload, '$.trace') = ? ORDER BY id",
            (trace_id,),
        )

    def undone(self) -> set[int]:
        """Events whose effect is currently undone. Walking undos newest first, an undo that
        is itself undone is skipped, so undoing an undo re-applies the original."""
        rows = self.db.execute("SELECT undo, target FROM undo_links ORDER BY undo DESC")
        undone: set[int] = set()
        for undo, target in rows:
            if undo not in undone:
                undone.add(target)
        return undone

    def events(self, limit: int = 50) -> list[Event]:
        return self._events("ORDER BY id DESC LIMIT ?", (limit,))

    def stats(self) -> dict[str, Any]:
        db = self.db
        kinds = dict(
            db.execute("SELECT kind, count(*) FROM nodes GROUP BY kind ORDER BY kind").fetchall()
        )
        edge_kinds = dict(
            db.execute(
                "SELECT kind, count(*) FROM edges WHERE dst IS NOT NULL GROUP BY kind ORDER BY kind"
            ).fetchall()
        )

        def one(sql: str) -> int:
            return int(db.execute(sql).fetchone()[0])

        return {
            "schema_version": SCHEMA_VERSION,
            "files": one("SELECT count(*) FROM files"),
            "nodes": sum(kinds.values()),
            "nodes_by_kind": kinds,
            "edges": sum(edge_kinds.values()),
            "edges_by_kind": edge_kinds,
            "unresolved_links": one(
                "SELECT count(*) FROM edges WHERE target IS NOT NULL AND dst IS NULL"
            ),
            "vectors": one("SELECT count(*) FROM vectors"),
            "events": one("SELECT count(*) FROM events"),
            "traces": one("SELECT count(*) FROM traces"),
        }


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements


def _chunks(items: list[Any], size: int = 900) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
