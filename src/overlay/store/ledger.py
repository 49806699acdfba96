"""The ledger family: the additive state learning writes — counts of outcomes per node and
goal (and per judged question), co-activations of node pairs, and modulation levels.

Every row is a sum of signed deltas, so an update is one upsert (the existing row's columns
named by their table, as PostgreSQL asks), undo is the same upsert
with the signs flipped, and merging two stores is adding their deltas. A row back at zero
is removed, so undo leaves no trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from overlay.store.connection import Connection, chunks, marks

CoactRow = tuple[str, str, int, float, int, int]  # a, b, asks, level, rejected, accepted


class Ledger(Protocol):
    """Counts, co-activations and modulation levels: sums of deltas."""

    def counts(self, node_ids: Sequence[str], goal: str) -> dict[str, tuple[int, int]]: ...
    def counts_of(self, node_id: str) -> dict[str, tuple[int, int]]:
        """(s, f) of one node toward every goal it has counts for."""
        ...

    def best_counts(self, goal: str, limit: int) -> list[tuple[str, tuple[int, int]]]:
        """The `limit` nodes with the most successes toward `goal`, with their (s, f)."""
        ...

    def goal_totals(self, goal: str) -> tuple[int, int]:
        """The goal's episodes: (verdicts that reached it, verdicts that did not)."""
        ...

    def add_counts(self, rows: Iterable[tuple[str, str, int, int]]) -> None: ...
    def all_counts(self) -> dict[tuple[str, str], tuple[int, int]]: ...
    def add_episodes(self, rows: Iterable[tuple[str, int, int]]) -> None: ...
    def all_episodes(self) -> dict[str, tuple[int, int]]: ...

    def term_counts(self, goal: str) -> dict[str, tuple[int, int]]:
        """Per score term: (s, f) toward `goal` of the term's own picks (see
        `overlay.learning.preferences`)."""
        ...

    def add_term_counts(self, rows: Iterable[tuple[str, str, int, int]]) -> None: ...
    def all_term_counts(self) -> dict[tuple[str, str], tuple[int, int]]: ...

    def add_judged(self, rows: Iterable[tuple[str, str, str, int, int]]) -> None: ...
    def judged(self, node_ids: Sequence[str], goal: str
               ) -> dict[str, list[tuple[str, int, int]]]:
        """Per node, the questions its answers were judged on toward `goal`: (question, s, f)."""
        ...
    def all_judged(self) -> dict[tuple[str, str, str], tuple[int, int]]: ...
    def add_coactivations(self, rows: Iterable[CoactRow]) -> None: ...
    def add_pair_counts(self, rows: Iterable[tuple[str, str, str, int, int]]) -> None: ...
    def pair_counts(self, pairs: Sequence[tuple[str, str]]
                    ) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
        """Per pair (a < b): goal → (s, f) of the judged asks that co-activated it."""
        ...

    def all_pair_counts(self) -> dict[tuple[str, str, str], tuple[int, int]]: ...
    def coactivations(self, min_asks: int = 1) -> list[CoactRow]: ...

    def add_modulation(self, rows: Iterable[tuple[str, str, float]]) -> None: ...
    def modulation(self) -> dict[tuple[str, str], float]: ...


class SQLiteLedger(Connection):
    """`Ledger` on SQLite: the tables `counts`, `judged`, `episodes`, `term_counts`,
    `coactivations`, `pair_counts` and `modulation`."""

    def _sums(self, upsert: str, zero: str, rows: Iterable[tuple[Any, ...]], key: int) -> None:
        """Add each row's deltas (in order), then remove the rows left at zero: two statements
        for any number of rows (a row at zero between two deltas ends as it would have)."""
        self._writing()
        batch = list(rows)
        if batch:
            self.db.executemany(upsert, batch)
            self.db.executemany(zero, list(dict.fromkeys(r[:key] for r in batch)))

    # ----------------------------------------------------------------- counts
    def counts(self, node_ids: Sequence[str], goal: str) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for chunk in chunks(list(node_ids)):
            rows = self.db.execute(
                f"SELECT node_id, s, f FROM counts WHERE goal = ? AND node_id IN ({marks(chunk)})",
                [goal, *chunk],
            )
            out.update({r[0]: (int(r[1]), int(r[2])) for r in rows})
        return out

    def counts_of(self, node_id: str) -> dict[str, tuple[int, int]]:
        rows = self.db.execute(
            "SELECT goal, s, f FROM counts WHERE node_id = ? ORDER BY goal", (node_id,)
        )
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def best_counts(self, goal: str, limit: int) -> list[tuple[str, tuple[int, int]]]:
        rows = self.db.execute(
            "SELECT node_id, s, f FROM counts WHERE goal = ? AND s > 0"
            " ORDER BY s - f DESC, node_id LIMIT ?", (goal, limit))
        return [(r[0], (int(r[1]), int(r[2]))) for r in rows]

    def goal_totals(self, goal: str) -> tuple[int, int]:
        row = self.db.execute("SELECT s, f FROM episodes WHERE goal = ?", (goal,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def add_episodes(self, rows: Iterable[tuple[str, int, int]]) -> None:
        """Add (goal, Δs, Δf) to the goal's episodes; a row back at 0/0 is removed."""
        self._sums("INSERT INTO episodes(goal, s, f) VALUES (?,?,?) ON CONFLICT(goal) DO UPDATE"
                   " SET s = episodes.s + excluded.s, f = episodes.f + excluded.f",
                   "DELETE FROM episodes WHERE goal = ? AND s = 0 AND f = 0", rows, 1)

    def all_episodes(self) -> dict[str, tuple[int, int]]:
        rows = self.db.execute("SELECT goal, s, f FROM episodes")
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def term_counts(self, goal: str) -> dict[str, tuple[int, int]]:
        rows = self.db.execute("SELECT term, s, f FROM term_counts WHERE goal = ?", (goal,))
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def add_term_counts(self, rows: Iterable[tuple[str, str, int, int]]) -> None:
        """Add (goal, term, Δs, Δf); a row back at 0/0 is removed."""
        self._sums("INSERT INTO term_counts(goal, term, s, f) VALUES (?,?,?,?)"
                   " ON CONFLICT(goal, term) DO UPDATE SET s = term_counts.s + excluded.s,"
                   " f = term_counts.f + excluded.f",
                   "DELETE FROM term_counts WHERE goal = ? AND term = ? AND s = 0 AND f = 0",
                   rows, 2)

    def all_term_counts(self) -> dict[tuple[str, str], tuple[int, int]]:
        rows = self.db.execute("SELECT goal, term, s, f FROM term_counts")
        return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}

    def add_counts(self, rows: Iterable[tuple[str, str, int, int]]) -> None:
        """Add (node, goal, Δs, Δf); a row back at 0/0 is removed, so undo leaves no trace."""
        self._sums("INSERT INTO counts(node_id, goal, s, f) VALUES (?,?,?,?) ON CONFLICT(node_id,"
                   " goal) DO UPDATE SET s = counts.s + excluded.s, f = counts.f + excluded.f",
                   "DELETE FROM counts WHERE node_id = ? AND goal = ? AND s = 0 AND f = 0", rows, 2)

    def all_counts(self) -> dict[tuple[str, str], tuple[int, int]]:
        rows = self.db.execute("SELECT node_id, goal, s, f FROM counts")
        return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}

    def add_judged(self, rows: Iterable[tuple[str, str, str, int, int]]) -> None:
        """Add (node, goal, question, Δs, Δf); a row back at 0/0 is removed."""
        self._sums("INSERT INTO judged(node_id, goal, question, s, f) VALUES (?,?,?,?,?)"
                   " ON CONFLICT(node_id, goal, question) DO UPDATE SET s = judged.s + excluded.s,"
                   " f = judged.f + excluded.f",
                   "DELETE FROM judged WHERE node_id = ? AND goal = ? AND question = ? AND s = 0"
                   " AND f = 0", rows, 3)

    def judged(self, node_ids: Sequence[str], goal: str
               ) -> dict[str, list[tuple[str, int, int]]]:
        out: dict[str, list[tuple[str, int, int]]] = {}
        for chunk in chunks(list(node_ids)):
            for node_id, question, s, f in self.db.execute(
                "SELECT node_id, question, s, f FROM judged WHERE goal = ? AND node_id IN"
                f" ({marks(chunk)}) ORDER BY node_id, question", [goal, *chunk]):
                out.setdefault(node_id, []).append((question, int(s), int(f)))
        return out

    def all_judged(self) -> dict[tuple[str, str, str], tuple[int, int]]:
        rows = self.db.execute("SELECT node_id, goal, question, s, f FROM judged")
        return {(r[0], r[1], r[2]): (int(r[3]), int(r[4])) for r in rows}

    # ---------------------------------------------------------- co-activation
    def add_coactivations(self, rows: Iterable[CoactRow]) -> None:
        """Add (a, b, Δasks, Δlevel, Δrejected, Δaccepted) with a < b; zero rows vanish."""
        self._sums("INSERT INTO coactivations(a, b, asks, level, rejected, accepted)"
                   " VALUES (?,?,?,?,?,?) ON CONFLICT(a, b) DO UPDATE SET"
                   " asks = coactivations.asks + excluded.asks,"
                   " level = coactivations.level + excluded.level,"
                   " rejected = coactivations.rejected + excluded.rejected,"
                   " accepted = coactivations.accepted + excluded.accepted",
                   "DELETE FROM coactivations WHERE a = ? AND b = ? AND asks = 0 AND rejected = 0"
                   " AND accepted = 0", rows, 2)

    def coactivations(self, min_asks: int = 1) -> list[CoactRow]:
        rows = self.db.execute(
            "SELECT a, b, asks, level, rejected, accepted FROM coactivations WHERE asks >= ?"
            " ORDER BY asks DESC, level DESC, a, b",
            (min_asks,),
        )
        return [(r[0], r[1], int(r[2]), float(r[3]), int(r[4]), int(r[5])) for r in rows]

    def add_pair_counts(self, rows: Iterable[tuple[str, str, str, int, int]]) -> None:
        """Add (a, b, goal, Δs, Δf) with a < b; a row back at 0/0 is removed."""
        self._sums("INSERT INTO pair_counts(a, b, goal, s, f) VALUES (?,?,?,?,?) ON CONFLICT(a,"
                   " b, goal) DO UPDATE SET s = pair_counts.s + excluded.s,"
                   " f = pair_counts.f + excluded.f",
                   "DELETE FROM pair_counts WHERE a = ? AND b = ? AND goal = ? AND s = 0 AND f = 0",
                   rows, 3)

    def pair_counts(self, pairs: Sequence[tuple[str, str]]
                    ) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
        out: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
        for a, b in pairs:
            rows = self.db.execute("SELECT goal, s, f FROM pair_counts WHERE a = ? AND b = ?",
                                   (a, b))
            out[(a, b)] = {r[0]: (int(r[1]), int(r[2])) for r in rows}
        return out

    def all_pair_counts(self) -> dict[tuple[str, str, str], tuple[int, int]]:
        rows = self.db.execute("SELECT a, b, goal, s, f FROM pair_counts")
        return {(r[0], r[1], r[2]): (int(r[3]), int(r[4])) for r in rows}

    # ------------------------------------------------------------ modulation
    def add_modulation(self, rows: Iterable[tuple[str, str, float]]) -> None:
        """Add (name, target, Δvalue); values are kept to 9 decimals so a delta and its
        inverse cancel exactly, and a row back at 0 is removed."""
        self._sums("INSERT INTO modulation(name, target, value) VALUES (?,?,ROUND(?, 9))"
                   " ON CONFLICT(name, target) DO UPDATE SET"
                   " value = ROUND(modulation.value + excluded.value, 9)",
                   "DELETE FROM modulation WHERE name = ? AND target = ? AND value = 0", rows, 2)

    def modulation(self) -> dict[tuple[str, str], float]:
        rows = self.db.execute("SELECT name, target, value FROM modulation ORDER BY name, target")
        return {(r[0], r[1]): float(r[2]) for r in rows}
