"""The SQLite store: one file, WAL, foreign keys, FTS5, an append-only event log.

`SQLiteStore` opens (or creates) the file, brings its schema up to date through the named
migrations, and composes the four table families: `SQLiteNodes`, `SQLiteVectors`,
`SQLiteLedger` and `SQLiteLog`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from overlay.errors import SchemaError, StoreError
from overlay.store.connection import now
from overlay.store.ledger import SQLiteLedger
from overlay.store.log import SQLiteLog
from overlay.store.migrations import MIGRATIONS, SCHEMA_VERSION
from overlay.store.nodes import SQLiteNodes
from overlay.store.vectors import SQLiteVectors


class SQLiteStore(SQLiteNodes, SQLiteVectors, SQLiteLedger, SQLiteLog):
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
                db.execute("INSERT INTO _migrations VALUES (?, ?)", (migration.name, now()))
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
