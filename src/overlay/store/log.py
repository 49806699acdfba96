"""The log family: changes (one transaction, one event), the append-only event log, which
event undid which, and the traces of selections.

Every write happens inside `change()`: a transaction that commits together with exactly one
row of `events` (triggers refuse UPDATE and DELETE on it), so a crash at any point leaves the
last committed state and the log says what every change was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from overlay.errors import StoreBusyError, StoreError
from overlay.store.connection import Connection, now
from overlay.store.records import Change, Event


class Log(Protocol):
    """Changes, events, undo links and traces."""

    def change(self, kind: str, **payload: Any) -> AbstractContextManager[Change]:
        """Open a transaction; on success one event of `kind` is appended and committed."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """Many changes, each with its own event, in one transaction."""
        ...

    def event(self, event_id: int) -> Event | None: ...
    def events(self, limit: int = 50) -> list[Event]: ...
    def events_after(self, event_id: int) -> list[Event]: ...
    def feedback_events(self, trace_id: str) -> list[Event]: ...
    def undone(self) -> set[int]: ...
    def is_undone(self, event_id: int) -> bool: ...

    def put_trace(
        self, trace_id: str, question: str, goal: str, payload: dict[str, Any]
    ) -> None: ...
    def get_trace(self, trace_id: str) -> dict[str, Any] | None: ...
    def find_traces(self, prefix: str, limit: int = 10) -> list[str]: ...
    def latest_trace(self) -> str | None: ...


class SQLiteLog(Connection):
    """`Log` on SQLite: `events`, `undo_links` and `traces`, and the transactions."""

    _batch: bool = False

    # ------------------------------------------------------------ transactions
    @contextmanager
    def batch(self) -> Iterator[None]:
        with self._tx:
            if self._depth or self._batch:
                raise StoreError("a batch cannot start inside a change or another batch")
            self._begin()
            self._batch = True
            try:
                yield
                self._before_commit()
                self.db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            finally:
                self._batch = False

    @contextmanager
    def change(self, kind: str, **payload: Any) -> Iterator[Change]:
        """One transaction + one event. Nested changes fold into the outer one."""
        change = Change(kind, dict(payload))
        with self._tx:  # one transaction at a time on this connection, whichever thread asks
            yield from self._change(change)

    def _change(self, change: Change) -> Iterator[Change]:
        if self._depth:
            self._depth += 1
            try:
                yield change
            finally:
                self._depth -= 1
            return
        own = not self._batch  # inside a batch the batch owns the transaction
        if own:
            self._begin()
        self._depth = 1
        try:
            yield change
            change.event_id = self._log(change)
            if own:
                self._before_commit()
                self.db.execute("COMMIT")
        except self._failures as exc:  # disk full, I/O, a lost server: nothing of it is kept
            if own:
                self._rollback()
            if isinstance(exc, self._conflicts):
                raise StoreBusyError(f"{self.path}: the change met another writer's and was "
                                     "not written; try it again") from None
            raise StoreError(f"{self.path}: the change was not written ({exc})") from None
        except BaseException:
            if own:
                self._rollback()
            raise
        finally:
            self._depth = 0

    def _log(self, change: Change) -> int:
        event_id = int(self.db.execute(
            "INSERT INTO events(ts, kind, payload) VALUES (?, ?, ?) RETURNING id",
            (now(), change.kind, json.dumps(change.payload, ensure_ascii=False, default=str)),
        ).fetchone()[0])
        targets = change.payload.get("undoes") or []
        self.db.executemany(
            "INSERT INTO undo_links(target, undo) VALUES (?, ?)", ((t, event_id) for t in targets)
        )
        return event_id

    # ------------------------------------------------------------------ events
    def _events(self, where: str, args: tuple[Any, ...]) -> list[Event]:
        rows = self.db.execute(f"SELECT id, ts, kind, payload FROM events {where}", args)
        return [Event(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def event(self, event_id: int) -> Event | None:
        if not 0 < event_id < 1 << 63:  # no such row, and SQLite cannot even bind it
            return None
        found = self._events("WHERE id = ?", (event_id,))
        return found[0] if found else None

    def events(self, limit: int = 50) -> list[Event]:
        return self._events("ORDER BY id DESC LIMIT ?", (limit,))

    def events_after(self, event_id: int) -> list[Event]:
        return self._events("WHERE id > ? ORDER BY id", (event_id,))

    def feedback_events(self, trace_id: str) -> list[Event]:
        """Feedback events on one trace (indexed: feedback must stay O(1) per event)."""
        return self._events(
            f"WHERE kind = 'feedback' AND {self._json('payload', 'trace')} = ? ORDER BY id",
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

    def is_undone(self, event_id: int) -> bool:
        """Whether an event's effect is undone now: some undo of it is not itself undone."""
        undos = [
            r[0]
            for r in self.db.execute("SELECT undo FROM undo_links WHERE target = ?", (event_id,))
        ]
        return any(not self.is_undone(u) for u in undos)

    # ------------------------------------------------------------------ traces
    def put_trace(self, trace_id: str, question: str, goal: str, payload: dict[str, Any]) -> None:
        self._writing()
        self.db.execute(
            "INSERT INTO traces(id, ts, question, goal, payload) VALUES (?,?,?,?,?)",
            (trace_id, now(), question, goal, json.dumps(payload, ensure_ascii=False)),
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

    def latest_trace(self) -> str | None:
        row = self.db.execute("SELECT id FROM traces ORDER BY ts DESC, rowid DESC LIMIT 1")
        found = row.fetchone()
        return found[0] if found else None
