"""A store as rows, and a store filled from another: `overlay store copy SRC DST`.

Every table a store keeps, with the columns both backends share, is listed here once. A copy
reads the source table by table and writes the destination in one transaction, keys and event
ids as they were, so the event log, the counts and the links come across unchanged; what is
derived (the full-text rows, the vector log, the pgvector index) is rebuilt by the destination.
No event is appended: the copied log is the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar, Protocol

from overlay.errors import StoreError
from overlay.progress import Progress
from overlay.store.connection import Connection
from overlay.store.migrations import SCHEMA_VERSION

# table: its columns, in the order they are written (parents before the rows that cite them)
TABLES: dict[str, tuple[str, ...]] = {
    "vaults": ("id", "name"),
    "nodes": ("key", "id", "kind", "title", "text", "source_path", "line_start", "line_end",
              "hash", "meta", "created_at", "updated_at"),
    "files": ("path", "source_id", "hash", "size", "mtime_ns", "repaired", "ingested_at",
              "vault"),
    "edges": ("id", "src", "dst", "kind", "target", "line", "meta"),
    "vectors": ("key", "model", "vec"),
    "question_vectors": ("question", "model", "vec"),
    "counts": ("node_id", "goal", "s", "f"),
    "judged": ("node_id", "goal", "question", "s", "f"),
    "episodes": ("goal", "s", "f"),
    "term_counts": ("goal", "term", "s", "f"),
    "coactivations": ("a", "b", "asks", "level", "rejected", "accepted"),
    "pair_counts": ("a", "b", "goal", "s", "f"),
    "modulation": ("name", "target", "value"),
    "events": ("id", "ts", "kind", "payload"),
    "undo_links": ("target", "undo"),
    "traces": ("id", "ts", "question", "goal", "payload"),
}
VECTOR_COLUMN = "vec"
BATCH = 2_000


class Tables(Protocol):
    """A store read as rows, and filled from another store's rows."""

    def dump(self, table: str) -> Iterator[tuple[Any, ...]]:
        """The rows of `table` (columns as `TABLES` lists them, vectors as arrays), in the
        order they were written."""
        ...

    def restore(self, source: Tables, progress: Progress | None = None) -> dict[str, int]:
        """Fill this empty store with every row of `source`, in one transaction; returns
        the rows copied per table."""
        ...

    def reading(self) -> AbstractContextManager[None]:
        """One snapshot for every read inside: a copy sees no change made meanwhile."""
        ...


class SQLTables(Connection):
    """`Tables` over a connection that takes `?` marks (SQLite's, and PostgreSQL's adapter)."""

    # the order a table's rows were written in, where it is not its first column
    _order: ClassVar[dict[str, str]] = {"undo_links": "undo, target", "traces": "rowid",
                              "counts": "node_id, goal", "judged": "node_id, goal, question",
                              "term_counts": "goal, term", "coactivations": "a, b",
                              "pair_counts": "a, b, goal", "modulation": "name, target",
                              "question_vectors": "question, model"}

    _snapshot = "BEGIN"  # SQLite's read transaction: its snapshot is taken at the first read

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._tx:
            if self._depth:
                raise StoreError("a snapshot cannot start inside a change")
            self.db.execute(self._snapshot)
            try:
                yield
            finally:
                self.db.execute("COMMIT")

    def dump(self, table: str) -> Iterator[tuple[Any, ...]]:
        cols = TABLES[table]
        order = self._order.get(table, cols[0])
        vec = cols.index(VECTOR_COLUMN) if VECTOR_COLUMN in cols else -1
        cursor = self.db.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
        for row in cursor:
            if vec >= 0:
                row = (*row[:vec], self._vec_out(row[vec]), *row[vec + 1 :])
            yield tuple(row)

    def restore(self, source: Tables, progress: Progress | None = None) -> dict[str, int]:
        with self._tx:
            if self._depth:
                raise StoreError("a copy cannot run inside a change")
            self._begin()
            self._depth = 1
            try:
                if self.db.execute("SELECT 1 FROM events UNION ALL SELECT 1 FROM nodes"
                                   " LIMIT 1").fetchone():
                    raise StoreError(f"{self.path} is not empty: copy into a new store")
                copied = {table: self._load(table, source.dump(table), progress)
                          for table in TABLES}
                self._after_restore()
                self._before_commit()
                self.db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            finally:
                self._depth = 0
        return copied

    def _load(self, table: str, rows: Iterator[tuple[Any, ...]], progress: Progress | None
              ) -> int:
        cols = TABLES[table]
        vec = cols.index(VECTOR_COLUMN) if VECTOR_COLUMN in cols else -1
        sql = f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        done, batch = 0, list[tuple[Any, ...]]()

        def flush() -> None:
            self.db.executemany(sql, [row if vec < 0 else
                                      (*row[:vec], self._vec_in(row[vec]), *row[vec + 1 :])
                                      for row in batch])
            if table == "nodes":  # the full-text rows are derived: made here, as on a write
                self._index_texts([(row[0], row[3], row[4]) for row in batch])
            if table == "vectors":
                for model, dim in {(r[1], len(r[2])) for r in batch}:
                    self._vector_index(model, dim)
            batch.clear()

        for row in rows:
            batch.append(row)
            done += 1
            if len(batch) >= BATCH:
                flush()
                if progress:
                    progress(table, done, done)
        flush()
        return done

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

    def _after_restore(self) -> None:
        """What a backend does once every row is in (nothing on SQLite: its AUTOINCREMENT
        counters follow the largest id written)."""
