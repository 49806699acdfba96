"""The PostgreSQL store: `--db postgresql://user@host/dbname`.

`PostgresStore` connects, brings the schema up to date through the same named migrations as
SQLite's (one process at a time, under an advisory lock), and composes the table families.
Several processes may open one database and write at once: what they share is the database's
own concurrency (see `overlay.store.postgres.connection`).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from overlay.errors import SchemaError, StoreError
from overlay.store.connection import now
from overlay.store.copy import SQLTables
from overlay.store.migrations import MIGRATIONS as NAMES
from overlay.store.migrations import SCHEMA_VERSION
from overlay.store.postgres.connection import Qmark, connect, shown
from overlay.store.postgres.ledger import PGLedger, PGLog
from overlay.store.postgres.nodes import PGNodes
from overlay.store.postgres.schema import MIGRATIONS
from overlay.store.postgres.vectors import PGVectors

MIGRATE_LOCK = "hashtext('overlay:migrate')"
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class PostgresStore(PGNodes, PGVectors, PGLedger, PGLog, SQLTables):
    """An overlay in a PostgreSQL database. `create` makes its tables in an empty database;
    `readonly` opens a connection whose transactions only read (a server's readers)."""

    _order: ClassVar[dict[str, str]] = {**SQLTables._order, "traces": "seq"}
    _snapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    def __init__(self, url: str | Path, *, create: bool = True, readonly: bool = False) -> None:
        self.url = str(url)
        self.path = shown(self.url)
        self.migrated_from: int | None = None
        self.readonly = readonly
        self._depth, self._batch, self._lex = 0, False, [0, 0]
        self._indexed: set[tuple[str, int]] = set()
        self._tx = threading.RLock()
        self.db = Qmark(connect(self.url, readonly))
        try:
            self._migrate(create)
        except BaseException:
            self.db.close()
            raise

    def _migrate(self, create: bool) -> None:
        applied = self._applied()
        if applied is None and (not create or self.readonly):
            raise StoreError(f"no overlay store at {self.path}; run `overlay init --db "
                             f"{self.path}` first (or give --create)")
        if applied is not None and len(applied) == SCHEMA_VERSION:
            return self._check(applied)
        try:
            with self.db.conn.transaction():
                self.db.execute(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK})")
                applied = self._applied() or []  # another process may have just done it
                self._check(applied)
                self.db.execute("CREATE TABLE IF NOT EXISTS _migrations"
                                " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
                for name, script in MIGRATIONS[len(applied):]:
                    self.db.conn.execute(script.encode())  # several statements, no parameters
                    self.db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, now()))
        except psycopg.Error as exc:
            raise SchemaError(f"{self.path}: making the schema failed ({exc}); nothing "
                              "changed") from None
        if applied:
            self.migrated_from = len(applied)

    def _applied(self) -> list[str] | None:
        """The migrations this database holds, or None where it holds no overlay."""
        if not self.db.execute("SELECT to_regclass('_migrations')").fetchone()[0]:
            if self.db.execute("SELECT to_regclass('nodes')").fetchone()[0]:
                raise StoreError(f"{self.path} has tables but is not an overlay store; "
                                 "choose another database")
            return None
        return [r[0] for r in self.db.execute("SELECT name FROM _migrations ORDER BY name")]

    def _check(self, applied: list[str]) -> None:
        if len(applied) > SCHEMA_VERSION:
            raise SchemaError(f"{self.path} has schema version {len(applied)}, newer than this "
                              f"overlay knows ({SCHEMA_VERSION}); upgrade overlay to open it")
        known = [m.name for m in NAMES[: len(applied)]]
        if applied != known:
            raise SchemaError(f"{self.path}: its migration history {applied} does not match "
                              f"this overlay's {known}; it was written by a different build")
        if len(applied) < SCHEMA_VERSION and self.readonly:
            raise SchemaError(f"{self.path} has schema {len(applied)} and needs an upgrade "
                              f"to {SCHEMA_VERSION}; open it once with write access")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the store's lock `name` across processes (a PostgreSQL advisory lock) and
        across this process's threads."""
        with _locks_guard:
            local = _locks.setdefault(f"{self.url}\0{name}", threading.Lock())
        with local:
            self.db.execute("SELECT pg_advisory_lock(hashtext(?))", (f"overlay:{name}",))
            try:
                yield
            finally:
                self.db.execute("SELECT pg_advisory_unlock(hashtext(?))", (f"overlay:{name}",))

    def copy_to(self, path: Path) -> None:
        """A consistent copy of the whole store in one new SQLite file."""
        from overlay.store.sqlite import SQLiteStore

        target = SQLiteStore(path)
        try:
            with self.reading():
                target.restore(self)
        finally:
            target.close()

    @contextmanager
    def scratch(self, empty: bool = False) -> Iterator[Path | str]:
        """A temporary database on the same server (the role needs CREATEDB), dropped
        afterwards."""
        name = f"{self.db.conn.info.dbname}_scratch_{uuid.uuid4().hex[:12]}"
        try:
            self.db.conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING"
                                         " 'UTF8'").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise StoreError(f"{self.path}: cannot make a scratch database ({exc}); an "
                             "evaluation needs a role with CREATEDB") from None
        url = urlsplit(self.url)._replace(path="/" + name).geturl()
        try:
            if not empty:
                copy = PostgresStore(url)
                try:
                    with self.reading():
                        copy.restore(self)
                finally:
                    copy.close()
            yield url
        finally:
            self.db.conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))

    def _after_restore(self) -> None:
        """Identity counters continue after the largest key copied; the planner's statistics
        are made now (autovacuum would take a minute, and BM25's plan needs them)."""
        for table, column in (("nodes", "key"), ("edges", "id"), ("events", "id")):
            self.db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                            f" coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)")
        for table in ("nodes", "postings", "lex_docs", "vectors", "edges"):
            self.db.execute(f"ANALYZE {table}")

