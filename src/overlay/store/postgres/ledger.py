"""The ledger and log families on PostgreSQL: SQLite's, with rows locked in key order (two
writers that touch the same rows wait for each other instead of deadlocking) and PostgreSQL's
spelling where it differs (JSON, rounding, a trace's order)."""

from __future__ import annotations

from collections.abc import Iterable

from overlay.store.ledger import CoactRow, SQLiteLedger
from overlay.store.log import SQLiteLog
from overlay.store.postgres.connection import PGConnection


class PGLedger(SQLiteLedger, PGConnection):
    """`Ledger` on PostgreSQL: each write's rows in key order."""

    def add_counts(self, rows: Iterable[tuple[str, str, int, int]]) -> None:
        super().add_counts(sorted(rows))

    def add_episodes(self, rows: Iterable[tuple[str, int, int]]) -> None:
        super().add_episodes(sorted(rows))

    def add_term_counts(self, rows: Iterable[tuple[str, str, int, int]]) -> None:
        super().add_term_counts(sorted(rows))

    def add_coactivations(self, rows: Iterable[CoactRow]) -> None:
        super().add_coactivations(sorted(rows))

    def add_pair_counts(self, rows: Iterable[tuple[str, str, str, int, int]]) -> None:
        super().add_pair_counts(sorted(rows))

    def add_judged(self, rows: Iterable[tuple[str, str, str, int, int]]) -> None:
        self._sums("INSERT INTO judged(node_id, goal, question, s, f) VALUES (?,?,?,?,?)"
                   " ON CONFLICT(node_id, goal, md5(question)) DO UPDATE SET s = judged.s +"
                   " excluded.s, f = judged.f + excluded.f",
                   "DELETE FROM judged WHERE node_id = ? AND goal = ? AND md5(question) = md5(?)"
                   " AND s = 0 AND f = 0", sorted(rows), 3)

    def add_modulation(self, rows: Iterable[tuple[str, str, float]]) -> None:
        """As on SQLite: values kept to 9 decimals, so a delta and its inverse cancel."""
        self._sums("INSERT INTO modulation(name, target, value) VALUES (?, ?, round(?::numeric, 9))"
                   " ON CONFLICT(name, target) DO UPDATE SET"
                   " value = round((modulation.value + excluded.value)::numeric, 9)",
                   "DELETE FROM modulation WHERE name = ? AND target = ? AND value = 0",
                   sorted(rows, key=lambda r: r[:2]), 2)


class PGLog(SQLiteLog, PGConnection):
    """`Log` on PostgreSQL."""

    def find_traces(self, prefix: str, limit: int = 10) -> list[str]:
        rows = self.db.execute("SELECT id FROM traces WHERE id >= ? AND starts_with(id, ?)"
                               " ORDER BY id LIMIT ?", (prefix, prefix, limit))
        return [r[0] for r in rows]

    def latest_trace(self) -> str | None:
        found = self.db.execute("SELECT id FROM traces ORDER BY seq DESC LIMIT 1").fetchone()
        return found[0] if found else None
