"""Named, ordered schema migrations. Once shipped, a migration is never edited: add a new one.

The store records every applied name in `_migrations` and the count in `PRAGMA user_version`,
so a store written by newer code is refused instead of being misread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One step of the schema: its SQL, and a data step run after it in the same
    transaction where the new tables must be filled from what the store already holds."""

    name: str
    sql: str
    after: Callable[[sqlite3.Connection], None] | None = None


def _undone(db: sqlite3.Connection) -> set[int]:
    """The events whose effect is undone (the log's rule: newest undo first, an undo that is
    itself undone does not count)."""
    undone: set[int] = set()
    for undo, target in db.execute("SELECT undo, target FROM undo_links ORDER BY undo DESC"):
        if undo not in undone:
            undone.add(target)
    return undone


def _episodes_from_feedback(db: sqlite3.Connection) -> None:
    """Every verdict in force so far is one episode toward its goal (the log itself stays as
    it was: `overlay.learning.event_ops` gives an older feedback event its episode op)."""
    undone = _undone(db)
    for event_id, raw in db.execute("SELECT id, payload FROM events WHERE kind = 'feedback'"):
        payload = json.loads(raw)
        goals = [op["goal"] for op in payload.get("ops") or [] if op.get("op") == "count"]
        verdict = payload.get("verdict")
        if event_id in undone or not goals or verdict not in ("good", "bad"):
            continue
        s, f = (1, 0) if verdict == "good" else (0, 1)
        db.execute("INSERT INTO episodes(goal, s, f) VALUES (?,?,?) ON CONFLICT(goal) DO"
                   " UPDATE SET s = s + excluded.s, f = f + excluded.f", (goals[0], s, f))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_initial",
        """
        CREATE TABLE nodes (
            key INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            source_path TEXT,
            line_start INTEGER,
            line_end INTEGER,
            hash TEXT NOT NULL,
            meta TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX nodes_source ON nodes(source_path);
        CREATE INDEX nodes_kind ON nodes(kind);

        CREATE TABLE edges (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            src TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
            dst TEXT REFERENCES nodes(id) ON DELETE SET NULL,
            kind TEXT NOT NULL,
            target TEXT,
            line INTEGER,
            meta TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX edges_src ON edges(src, kind);
        CREATE INDEX edges_dst ON edges(dst, kind);

        CREATE TABLE files (
            path TEXT PRIMARY KEY,
            source_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
            hash TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL DEFAULT 0,
            repaired TEXT,
            ingested_at TEXT NOT NULL
        );
        CREATE INDEX files_hash ON files(hash);

        CREATE TABLE counts (
            node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
            goal TEXT NOT NULL,
            s INTEGER NOT NULL DEFAULT 0,
            f INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (node_id, goal)
        );

        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL
        );
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

        CREATE TABLE traces (
            id TEXT PRIMARY KEY,
            ts TEXT NOT NULL,
            question TEXT NOT NULL,
            goal TEXT NOT NULL,
            payload TEXT NOT NULL
        );

        CREATE TABLE vectors (
            key INTEGER PRIMARY KEY REFERENCES nodes(key) ON DELETE CASCADE,
            model TEXT NOT NULL,
            vec BLOB NOT NULL
        );
        CREATE INDEX vectors_model ON vectors(model);
        CREATE TABLE vector_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            key INTEGER NOT NULL,
            op TEXT NOT NULL
        );
        CREATE TRIGGER vectors_ins AFTER INSERT ON vectors
            BEGIN INSERT INTO vector_log(key, op) VALUES (new.key, 'put'); END;
        CREATE TRIGGER vectors_upd AFTER UPDATE ON vectors
            BEGIN INSERT INTO vector_log(key, op) VALUES (new.key, 'put'); END;
        CREATE TRIGGER vectors_del AFTER DELETE ON vectors
            BEGIN INSERT INTO vector_log(key, op) VALUES (old.key, 'del'); END;

        CREATE VIRTUAL TABLE fts USING fts5(
            title, body, tokenize = 'unicode61 remove_diacritics 0'
        );
        CREATE VIRTUAL TABLE fts_vocab USING fts5vocab(fts, row);
        CREATE TRIGGER nodes_fts_del AFTER DELETE ON nodes
            BEGIN DELETE FROM fts WHERE rowid = old.key; END;
        CREATE TRIGGER nodes_stale_vector AFTER UPDATE OF hash ON nodes
            WHEN old.hash != new.hash
            BEGIN DELETE FROM vectors WHERE key = new.key; END;
        """,
    ),
    Migration(
        "0002_learning",
        """
        CREATE INDEX events_trace ON events(json_extract(payload, '$.trace'))
            WHERE kind = 'feedback';

        CREATE TABLE undo_links (
            target INTEGER NOT NULL,
            undo INTEGER NOT NULL REFERENCES events(id)
        );
        CREATE INDEX undo_links_target ON undo_links(target);

        CREATE TABLE coactivations (
            a TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
            b TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
            asks INTEGER NOT NULL DEFAULT 0,
            level REAL NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            accepted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (a, b),
            CHECK (a < b)
        );
        """,
    ),
    Migration(
        "0003_modulation",
        """
        -- signal operators (gain, temperature, boost): sums of signed deltas, like counts,
        -- so undo and merge are additions; a row back at 0 is removed
        CREATE TABLE modulation (
            name TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT '',
            value REAL NOT NULL,
            PRIMARY KEY (name, target)
        );
        """,
    ),
)

MIGRATIONS += (
    Migration(
        "0004_vaults",
        """
        -- a vault is known by the id in its `.overlay-vault` file, not by its folder's name:
        -- its files keep their identity when the folder moves, and two vaults whose folders
        -- share a name stay apart (the second gets another name here)
        CREATE TABLE vaults (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE
        );
        ALTER TABLE files ADD COLUMN vault TEXT REFERENCES vaults(id);
        CREATE INDEX files_vault ON files(vault);
        """,
    ),
)

MIGRATIONS += (
    Migration(
        "0005_episodes",
        """
        -- the goal's base rate counts episodes (one per verdict), not citations: p0 in
        -- Kharkevich's log2(p1/p0) is the chance of reaching the goal at all
        CREATE TABLE episodes (
            goal TEXT PRIMARY KEY,
            s INTEGER NOT NULL DEFAULT 0,
            f INTEGER NOT NULL DEFAULT 0
        );
        """,
        after=_episodes_from_feedback,
    ),
)

MIGRATIONS += (
    Migration(
        "0006_term_counts",
        """
        -- per goal and score term: how its own picks fared (good/bad), the evidence
        -- the selector's term weights are learned from (overlay.weights.term_weight)
        CREATE TABLE term_counts (
            goal TEXT NOT NULL,
            term TEXT NOT NULL,
            s INTEGER NOT NULL DEFAULT 0,
            f INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (goal, term)
        );
        """,
    ),
)

MIGRATIONS += (
    Migration(
        "0007_pair_counts",
        """
        -- per unlinked pair co-activated in a judged ask, and its goal: the verdicts (good,
        -- bad), so an insight is a pair whose co-activation raises the goal's information
        CREATE TABLE pair_counts (
            a TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
            b TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
            goal TEXT NOT NULL,
            s INTEGER NOT NULL DEFAULT 0,
            f INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (a, b, goal),
            CHECK (a < b)
        );
        -- the goal's most successful nodes seed goal-driven activation
        CREATE INDEX counts_goal ON counts(goal, s);
        """,
    ),
)

MIGRATIONS += (
    Migration(
        "0008_judged",
        """
        -- per node, goal and judged question: the verdicts on answers that led with the node,
        -- so a verdict is evidence for questions like the one judged, not for every question
        -- the node serves (overlay.evidence); `counts` keeps the node's totals
        CREATE TABLE judged (
            node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
            goal TEXT NOT NULL,
            question TEXT NOT NULL,
            s INTEGER NOT NULL DEFAULT 0,
            f INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (node_id, goal, question)
        );
        -- each judged question's embedding, per embedder (derived, like node vectors)
        CREATE TABLE question_vectors (
            question TEXT NOT NULL,
            model TEXT NOT NULL,
            vec BLOB NOT NULL,
            PRIMARY KEY (question, model)
        );
        """,
    ),
)

MIGRATIONS += (
    Migration(
        "0009_memory_times",
        """
        -- conversation turns carry a time in their meta: an index on it answers a date
        -- filter and the memories' latest date without reading every node
        CREATE INDEX nodes_time ON nodes (json_extract(meta, '$.time'))
            WHERE json_extract(meta, '$.time') IS NOT NULL;
        """,
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
