"""What every PostgreSQL table family shares: the connection (psycopg, pgvector's types), the
transactions, and the writes kept for the end of one.

The table families' SQL is SQLite's wherever it is standard SQL; `Qmark` lets it run here
unchanged (SQLite's `?` marks become psycopg's `%s`), and each family overrides only what
PostgreSQL spells otherwise.

Concurrency is the database's: transactions are READ COMMITTED, every count is a commutative
upsert (`s = s + excluded.s`) on a row lock, rows are locked in key order, and the one row
every node write changes (the full-text totals) is changed last, just before COMMIT, so two
writers never wait on each other in a cycle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from overlay.errors import StoreError
from overlay.patterns import linear
from overlay.store.connection import Connection
from overlay.store.records import Vector

SCHEMES = ("postgresql://", "postgres://")
_QUOTED = linear(r'"[^"]*"')


def is_database_url(value: object) -> bool:
    """Whether `value` names a PostgreSQL database rather than a file."""
    return isinstance(value, str) and value.startswith(SCHEMES)


def _secrets(url: str) -> list[str]:
    """The password an address holds, as written and percent-decoded: in its user part
    (which may itself hold `@`, `:` or `%`) or as a `password=` parameter."""
    rest = url.split("://", 1)[-1]
    found = []
    netloc = rest.split("?", 1)[0]
    if "@" in netloc:
        user = netloc.rsplit("@", 1)[0]
        if ":" in user:
            found.append(user.split(":", 1)[1])
    query = rest.split("?", 1)[1] if "?" in rest else ""
    found += [part.split("=", 1)[1] for part in query.split("&")
              if part.lower().startswith("password=")]
    return [s for raw in found for s in {raw, unquote(raw)} if s]


def redact(text: str, url: str) -> str:
    """`text` (a message from the driver, say) with `url`'s password taken out. A password
    holding `@`, `:` or `%` may be cut where the driver parsed the address otherwise, and
    quoted in pieces: with a password in the address, every quoted token goes too."""
    secrets = _secrets(url)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _QUOTED.sub('"***"', text) if secrets else text


def shown(url: str) -> str:
    """The address without its password, for messages and views."""
    rest = url.split("://", 1)
    if len(rest) == 2 and "@" in rest[1].split("?", 1)[0]:
        user, host = rest[1].split("?", 1)[0].rsplit("@", 1)
        tail = rest[1][len(user) + 1 + len(host):]
        url = f"{rest[0]}://{user.split(':', 1)[0]}@{host}{tail}"
    return redact(url, url) if "password=" in url.lower() else url


def failed(exc: psycopg.Error, url: str) -> StoreError:
    """A driver error as one line that never shows the password."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StoreError(f"{shown(url)}: {redact(first, url)}")


@lru_cache(maxsize=2048)
def _marks(query: str) -> str:
    return query.replace("%", "%%").replace("?", "%s")


def refused(exc: psycopg.DataError) -> StoreError:
    """A value PostgreSQL cannot hold (SQLite can): the NUL character above all."""
    first = str(exc).strip().splitlines()[0]
    if "0x00" in first or "\\u0000" in first:
        return StoreError("PostgreSQL cannot store the NUL character (U+0000) this text holds; "
                          "remove it and try again")
    return StoreError(f"PostgreSQL refused a value: {first}")


class Qmark:
    """A psycopg connection that takes `?` marks, as the shared SQL is written."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, query: str, params: Iterable[Any] = ()) -> psycopg.Cursor[Any]:
        try:
            return self.conn.execute(_marks(query), tuple(params))
        except psycopg.DataError as exc:
            raise refused(exc) from None
        except psycopg.OperationalError as exc:  # the server went away, the disk is full
            raise self.lost(exc) from None

    def lost(self, exc: psycopg.OperationalError) -> StoreError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        secret = self.conn.info.password
        return StoreError("PostgreSQL: " + (first.replace(secret, "***") if secret else first))

    def executemany(self, query: str, rows: Iterable[Iterable[Any]]) -> psycopg.Cursor[Any]:
        cursor = self.conn.cursor()
        batch = [tuple(r) for r in rows]
        try:
            if batch:
                cursor.executemany(_marks(query), batch)
        except psycopg.DataError as exc:
            raise refused(exc) from None
        except psycopg.OperationalError as exc:
            raise self.lost(exc) from None
        return cursor

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Rows into `table` by COPY: one round trip for any number of them."""
        query = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
        try:
            with self.conn.cursor().copy(query) as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.DataError as exc:
            raise refused(exc) from None
        except psycopg.OperationalError as exc:
            raise self.lost(exc) from None

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def close(self) -> None:
        self.conn.close()


def connect(url: str, readonly: bool) -> psycopg.Connection[Any]:
    """A connection in autocommit (the store opens its own transactions) with pgvector's
    types; the extension is made when it is missing and this role may make it."""
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {failed(exc, url)}") from None
    try:
        if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
            if readonly:
                raise StoreError(f"{shown(url)} has no pgvector extension; open it once with a "
                                 "role that may run CREATE EXTENSION vector")
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        if readonly:
            conn.execute("SET default_transaction_read_only = on")
    except psycopg.Error as exc:
        conn.close()
        raise StoreError(f"{shown(url)}: pgvector is needed and could not be enabled "
                         f"({redact(str(exc), url)}); "
                         "run CREATE EXTENSION vector as the database's owner") from None
    except StoreError:
        conn.close()
        raise
    return conn


class PGConnection(Connection):
    """A PostgreSQL connection and the rule that writes happen only inside a change."""

    url: str
    _failures = (psycopg.OperationalError,)
    _conflicts = (psycopg.errors.TransactionRollback,)  # deadlock, serialization
    _lex: list[int]  # documents and tokens the open transaction adds to the full-text totals
    _indexed: set[tuple[str, int]]

    @staticmethod
    def _json(column: str, key: str) -> str:
        return f"({column}::jsonb)->>'{key}'"

    def _begin(self) -> None:
        self.check_writable()
        self._lex = [0, 0]
        try:
            self.db.execute("BEGIN")
        except psycopg.OperationalError as exc:
            raise StoreError(f"{self.path}: cannot write ({exc})") from None

    def _before_commit(self) -> None:
        if any(self._lex):
            self.db.execute("UPDATE lex_stats SET docs = docs + ?, tokens = tokens + ?"
                            " WHERE id = 1", self._lex)
        self._lex = [0, 0]

    def _returning(self, query: str, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        """One pipelined round trip for all the rows, not one per row."""
        if not rows:
            return []
        cursor = self.db.conn.cursor()
        try:
            cursor.executemany(_marks(query), rows, returning=True)
        except psycopg.DataError as exc:
            raise refused(exc) from None
        values = []
        while True:
            values.append(cursor.fetchone()[0])
            if not cursor.nextset():
                return values

    def _vec_in(self, vec: Vector) -> Any:
        return np.ascontiguousarray(vec, dtype=np.float32)

    def _vec_out(self, value: Any) -> Vector:
        found = value.to_numpy() if hasattr(value, "to_numpy") else value  # pgvector's Vector
        return np.asarray(found, dtype=np.float32)

    def _vector_index(self, model: str, dim: int) -> None:
        """An HNSW index (cosine) over `model`'s vectors, made with its first ones."""
        if (model, dim) in self._indexed:
            return
        name = self._hnsw(model, dim)
        if not self.db.execute("SELECT 1 FROM pg_indexes WHERE indexname = ?", (name,)
                               ).fetchone():
            # two writers' first vectors: one makes it, the other then finds it
            self.db.execute("SELECT pg_advisory_xact_lock(hashtext('overlay:hnsw'))")
            self.db.conn.execute(sql.SQL(
                "CREATE INDEX IF NOT EXISTS {} ON vectors USING hnsw"
                " ((vec::vector({})) vector_cosine_ops) WHERE model = {}").format(
                    sql.Identifier(name), sql.Literal(dim), sql.Literal(model)))
            return  # known once committed: a rolled-back change leaves no index
        self._indexed.add((model, dim))

    @staticmethod
    def _hnsw(model: str, dim: int) -> str:
        return f"vectors_hnsw_{hashlib.md5(model.encode()).hexdigest()[:12]}_{dim}"
