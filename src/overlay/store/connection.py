"""What every SQLite table family shares: the connection, the write guard and small helpers.

Each family (`nodes.py`, `vectors.py`, `ledger.py`, `log.py`) is a mixin over this class;
`sqlite.py` opens the connection, migrates the schema, and composes the families.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from overlay.errors import StoreError
from overlay.graph import Edge, EdgeKind, Node, NodeKind
from overlay.store.records import Vector

NODE_COLS = "id, kind, title, text, source_path, line_start, line_end, hash, meta"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def chunks(items: list[Any], size: int = 900) -> Iterator[list[Any]]:
    """`items` in pieces small enough for one SQL `IN (…)` list."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def marks(items: list[Any]) -> str:
    return ",".join("?" * len(items))


def to_node(row: sqlite3.Row | tuple[Any, ...]) -> Node:
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


def to_edge(row: tuple[Any, ...]) -> Edge:
    return Edge(
        src=row[0],
        dst=row[1],
        kind=EdgeKind(row[2]),
        target=row[3],
        line=row[4],
        meta=json.loads(row[5]),
    )


BUSY_SECONDS = 60.0  # how long a write waits for another process's transaction in all


class Connection:
    """An open SQLite connection and the rule that writes happen only inside a change."""

    path: Path | str  # a file, or a database's address (no password)
    db: Any  # sqlite3.Connection here; PostgreSQL's stores hold an adapter with its calls
    readonly: bool = False
    _depth: int = 0
    _tx: threading.RLock  # held for a whole transaction by the thread that runs it
    # what a failed write raises (disk full, I/O, a lost server): nothing of the change is kept
    _failures: tuple[type[Exception], ...] = (sqlite3.OperationalError,)
    # ... and of those, what means another writer's transaction met this one's (retryable)
    _conflicts: tuple[type[Exception], ...] = ()

    @staticmethod
    def _json(column: str, key: str) -> str:
        """SQL for the text at `key` of the JSON in `column` (as this backend's indexes on it
        spell it)."""
        return f"json_extract({column}, '$.{key}')"

    def _before_commit(self) -> None:
        """Writes a backend keeps for the end of a transaction (none on SQLite)."""

    def _rollback(self) -> None:
        """Undo the open transaction. The database may have ended it already (SQLite does on a
        full disk; a lost server takes it along): then there is nothing to undo, and the error
        that ended it, raised next by the caller, is the one the user reads."""
        if not getattr(self.db, "in_transaction", True):
            return
        with contextlib.suppress(*self._failures, StoreError):  # the connection itself is gone
            self.db.execute("ROLLBACK")

    def _vector_index(self, model: str, dim: int) -> None:
        """Make sure `model`'s vectors of `dim` are indexed in the database, where the
        backend indexes them there (SQLite does not: its index is a file beside it)."""

    def _index_texts(self, rows: Sequence[tuple[int, str, str]]) -> None:
        """(Re)write the full-text rows of these (key, title, text) (each node family does)."""
        raise NotImplementedError

    def _returning(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Run `sql` (ending in RETURNING one column) once per row; the values it returned."""
        return [self.db.execute(sql, row).fetchone()[0] for row in rows]

    def _vec_in(self, vec: Vector) -> Any:
        """A vector as this backend's column takes it."""
        return np.ascontiguousarray(vec, dtype=np.float32).tobytes()

    def _vec_out(self, value: Any) -> Vector:
        """A vector column's value as an array."""
        return np.frombuffer(value, dtype=np.float32)

    def _writing(self) -> None:
        if not self._depth:
            raise StoreError("write outside a change: wrap it in `with store.change(...)`")

    def check_writable(self) -> None:
        """Raise StoreError, saying what to do, when this store cannot be written here: asked
        before any work whose result would have to be written (an ingest, an ask's trace)."""
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only: its file or folder is not "
                             "writable here; give write access, or work on a copy")

    def _begin(self) -> None:
        """Open a write transaction, waiting (with backoff) while another process writes."""
        self.check_writable()
        waited, pause = 0.0, 0.05
        while True:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise StoreError(f"{self.path}: cannot write ({exc})") from None
                if waited >= BUSY_SECONDS:
                    raise StoreError(
                        f"{self.path} is locked: another process has been writing to it for "
                        f"over {BUSY_SECONDS:.0f} s; try again when it is done") from None
            time.sleep(pause)
            waited += pause + 5.0  # each refused BEGIN already waited the busy timeout
            pause = min(pause * 2, 1.0)

    def _keys(self, node_ids: list[str]) -> dict[str, int]:
        """The integer row key of each node id (vectors and FTS rows are keyed by it)."""
        out: dict[str, int] = {}
        for chunk in chunks(node_ids):
            out.update(
                self.db.execute(
                    f"SELECT id, key FROM nodes WHERE id IN ({marks(chunk)})", chunk
                ).fetchall()
            )
        return out
