"""The SQLite store: one file, WAL, foreign keys, FTS5, an append-only event log.

`SQLiteStore` opens (or creates) the file, brings its schema up to date through the named
migrations, and composes the four table families: `SQLiteNodes`, `SQLiteVectors`,
`SQLiteLedger` and `SQLiteLog` (and `SQLTables`, the store as rows for a copy).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from overlay.errors import SchemaError, StoreError
from overlay.store.connection import now
from overlay.store.copy import SQLTables
from overlay.store.ledger import SQLiteLedger
from overlay.store.log import SQLiteLog
from overlay.store.migrations import MIGRATIONS, SCHEMA_VERSION
from overlay.store.nodes import SQLiteNodes
from overlay.store.vectors import SQLiteVectors


class SQLiteStore(SQLiteNodes, SQLiteVectors, SQLiteLedger, SQLiteLog, SQLTables):
    """The default store. Open with `SQLiteStore(path)`; it creates or upgrades the schema.

    `readonly` opens a connection that only reads (a server's readers; WAL lets them read
    while the writer writes). A file or folder without write permission is opened read-only
    by itself, so reads work and a write says what is wrong."""

    path: Path

    def __init__(self, path: Path | str, *, create: bool = True, readonly: bool = False) -> None:
        self.path = Path(path)
        self.migrated_from: int | None = None
        if not self.path.exists():
            if not create or readonly:
                raise StoreError(f"no overlay store at {self.path}; run `overlay init` first "
                                 "(or give --create)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.readonly = readonly or not _writable(self.path)
        try:
            try:
                self.db = self._connect()
            except sqlite3.OperationalError as exc:
                if "readonly" not in str(exc):  # permissions os.access could not see (root
                    raise
                self.readonly = True  # without its capabilities, a read-only mount, …)
                self.db = self._connect()
        except sqlite3.DatabaseError as exc:
            raise self._refused(exc) from None
        self._depth = 0
        self._batch = False
        self._tx = threading.RLock()
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            db = self._read_only()
        else:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            if not self.readonly:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA busy_timeout = 5000")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _refused(self, exc: sqlite3.DatabaseError) -> StoreError:
        """Why the file could not be opened, in words that say what to do."""
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreError(f"{self.path} is locked by another process that is writing to it; "
                              "try again when it is done")
        wal, shm = (self.path.with_name(self.path.name + end) for end in ("-wal", "-shm"))
        if "unable to open" in text and wal.exists() and not shm.exists():
            return StoreError(
                f"{self.path} has a write-ahead log ({wal.name}) but no {shm.name}, and its folder "
                "cannot be written, so it cannot be read safely; open it once with write access "
                "(or copy its folder somewhere writable)")
        if "unable to open" in text:
            return StoreError(f"{self.path} cannot be opened ({text}); check that it and its "
                              "folder can be read")
        return StoreError(f"{self.path} is not an overlay store ({text})")

    def _read_only(self) -> sqlite3.Connection:
        """A connection that only reads. A WAL store in a folder this process cannot write,
        with no writer holding its shared-memory file, can only be read as immutable: no
        writer is there to change it meanwhile (one would have made that file)."""
        uri = self.path.resolve().as_uri()
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None,
                             check_same_thread=False)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            db.close()
            if "readonly" not in str(exc):
                raise
            db = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None,
                                 check_same_thread=False)
        return db

    # ----------------------------------------------------------------- schema
    def _migrate(self) -> None:
        db = self.db
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise self._refused(exc) from None
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
        if self.readonly:
            raise SchemaError(f"{self.path} has schema {version} and needs an upgrade to "
                              f"{SCHEMA_VERSION}; open it once with write access")
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
            )
            for migration in MIGRATIONS[version:]:
                for statement in _split_sql(migration.sql):
                    db.execute(statement)
                if migration.after is not None:
                    migration.after(db)
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

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the store's lock `name` (a file beside it): another process or thread that
        asks for it waits until this one is done."""
        path = self.path.with_name(f"{self.path.name}.{name}.lock")
        try:
            handle = path.open("a")
        except OSError as exc:
            raise StoreError(f"cannot take the {name} lock at {path}: {exc.strerror}") from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def copy_to(self, path: Path) -> None:
        """A consistent copy of the whole store in one new file (VACUUM INTO)."""
        self.db.execute("VACUUM INTO ?", (str(path),))

    @contextmanager
    def scratch(self, empty: bool = False) -> Iterator[Path | str]:
        """A copy in a temporary folder, with the vector index files beside this store (so a
        copy need not rebuild them)."""
        with tempfile.TemporaryDirectory(prefix="overlay-scratch-") as tmp:
            copy = Path(tmp) / "scratch.db"
            if not empty:
                self.copy_to(copy)
                for index in self.path.parent.glob(self.path.name + ".*.usearch*"):
                    shutil.copy(index, Path(tmp) / index.name.replace(self.path.name,
                                                                      copy.name, 1))
            yield copy


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


def _writable(path: Path) -> bool:
    """Whether the store file and its folder (WAL writes files beside it) can be written."""
    folder = path.resolve().parent
    return os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))
