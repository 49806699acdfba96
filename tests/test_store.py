"""The SQLite store: schema versions, transactions that end in one event, append-only log."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from overlay.errors import SchemaError, StoreError
from overlay.graph import Edge, EdgeKind, Node, NodeKind
from overlay.plugins import load_plugins, open_store
from overlay.store import SQLiteStore, Store, migrations
from overlay.store.migrations import MIGRATIONS, Migration


def node(i: str, text: str = "text", title: str | None = None) -> Node:
    return Node(i, NodeKind.FACT, f"title {i}" if title is None else title, text, "a.md", 1, 2)


def opened(address: Path | str) -> Store:
    """A new store at `address`, through the backend its form names."""
    return open_store(load_plugins(), "sqlite", address)


def test_new_store_records_its_migrations(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    names = [r[0] for r in store.db.execute("SELECT name FROM _migrations")]
    assert names == [m.name for m in MIGRATIONS]
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_store_from_newer_schema_is_refused(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "s.db").close()
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(SchemaError, match="newer than this overlay knows"):
        SQLiteStore(tmp_path / "s.db")


def test_older_store_is_upgraded_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    with store.change("test"):
        store.put_nodes([node("a")])
    store.close()
    extra = (*MIGRATIONS, Migration("0099_test_column", "ALTER TABLE nodes ADD COLUMN note TEXT;"))
    monkeypatch.setattr("overlay.store.sqlite.MIGRATIONS", extra)
    monkeypatch.setattr("overlay.store.sqlite.SCHEMA_VERSION", len(extra))
    upgraded = SQLiteStore(tmp_path / "s.db")
    assert upgraded.migrated_from == len(MIGRATIONS)
    assert upgraded.get_node("a") is not None
    assert "note" in [r[1] for r in upgraded.db.execute("PRAGMA table_info(nodes)")]


def test_foreign_files_are_refused_clearly(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="not an overlay store"):
        SQLiteStore(junk)
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not an overlay store"):
        SQLiteStore(other)
    with pytest.raises(StoreError, match="overlay init"):
        SQLiteStore(tmp_path / "missing.db", create=False)


def test_every_change_is_one_transaction_and_one_event(address: Path | str) -> None:
    store = opened(address)
    with store.change("learn", who="test") as change:
        store.put_nodes([node("a"), node("b")])
        store.add_edges([Edge("a", EdgeKind.SUPPORTS, "b")])
        change.payload["n"] = 2
    events = store.events()
    assert [(e.kind, e.payload) for e in events] == [("learn", {"who": "test", "n": 2})]
    assert change.event_id == events[0].id

    with pytest.raises(RuntimeError), store.change("learn"):
        store.put_nodes([node("c")])
        raise RuntimeError("crash in the middle")
    assert store.get_node("c") is None
    assert len(store.events()) == 1


def test_writes_outside_a_change_are_refused(address: Path | str) -> None:
    store = opened(address)
    with pytest.raises(StoreError, match="outside a change"):
        store.put_nodes([node("a")])


def test_event_log_is_append_only(address: Path | str) -> None:
    store = opened(address)
    with store.change("x"):
        pass
    with pytest.raises(Exception, match="append-only"):
        store.db.execute("UPDATE events SET kind = 'y'")
    with pytest.raises(Exception, match="append-only"):
        store.db.execute("DELETE FROM events")


def test_deleting_a_node_cascades_and_unresolves_links(address: Path | str) -> None:
    store = opened(address)
    with store.change("x"):
        store.put_nodes([node("a", "alpha"), node("b", "beta")])
        store.add_edges(
            [Edge("a", EdgeKind.LINKS_TO, "b", target="B"), Edge("b", EdgeKind.PART_OF, "a")]
        )
        store.put_vectors(["a", "b"], "m", np.eye(2, dtype=np.float32))
    with store.change("x"):
        store.delete_nodes(["b"])
    links = store.link_edges()
    assert [(s.edge.src, s.edge.dst, s.edge.target) for s in links] == [("a", None, "B")]
    assert store.lexical_search(["beta"], 5) == []
    assert store.stats()["vectors"] == 1
    _, changes = store.vector_changes(0)
    assert dict(changes)[2] == "del"


def test_changed_text_drops_the_stale_vector(address: Path | str) -> None:
    store = opened(address)
    with store.change("x"):
        store.put_nodes([node("a", "one")])
        store.put_vectors(["a"], "m", np.ones((1, 4), dtype=np.float32))
    with store.change("x"):
        store.put_nodes([node("a", "one")])  # same text: vector kept
    assert store.count_missing_vectors("m") == 0
    with store.change("x"):
        store.put_nodes([node("a", "two")])
    assert store.count_missing_vectors("m") == 1


def test_lexical_search_ranks_by_bm25_with_title_weight(address: Path | str) -> None:
    store = opened(address)
    with store.change("x"):
        store.put_nodes(
            [
                node("body", "bread bread flour", "other"),
                node("title", "flour", "bread"),
                node("none", "water", "salt"),
            ]
        )
    ranked = [i for i, _ in store.lexical_search(["bread"], 10)]
    assert ranked[0] == "title" and set(ranked) == {"body", "title"}


def test_schema_version_constant_matches_migrations() -> None:
    assert len(MIGRATIONS) == migrations.SCHEMA_VERSION
    assert len({m.name for m in MIGRATIONS}) == len(MIGRATIONS)
    assert [m.name for m in MIGRATIONS] == sorted(m.name for m in MIGRATIONS)


def test_episodes_are_filled_from_the_log_when_a_store_is_upgraded(tmp_path: Path) -> None:
    """A store from before episodes: each verdict in force becomes one episode of its goal (an
    undone one does not), and undoing a verdict afterwards takes its episode back exactly."""
    from overlay import Overlay, Settings

    db = tmp_path / "o.db"
    settings = Settings.make(db=db, retrieve={"embedder": "hashing"}, lm={"model": "fake"})
    with Overlay(settings=settings) as ov:
        ov.ingest([Path(__file__).resolve().parents[1] / "examples" / "vault"])
        verdicts = [ov.feedback(ov.ask(q).id, v)["event"] for q, v in (
            ("How do I feed a starter?", "good"), ("What is hooch?", "bad"),
            ("What does the float test tell me?", "good"))]
        ov.undo(verdicts[2])
        expected = ov.store.all_episodes()
    assert expected == {"answer": (1, 1)}
    con = sqlite3.connect(db)  # make it what the previous schema wrote
    guard = con.execute("SELECT sql FROM sqlite_master WHERE name = 'events_no_update'")
    trigger = guard.fetchone()[0]
    con.execute("DROP TRIGGER events_no_update")
    for event_id, raw in con.execute("SELECT id, payload FROM events").fetchall():
        payload = json.loads(raw)
        if "ops" in payload:
            payload["ops"] = [op for op in payload["ops"]
                              if op["op"] not in ("episode", "term", "pair", "judged")]
            con.execute("UPDATE events SET payload = ? WHERE id = ?",
                        (json.dumps(payload), event_id))
    con.execute(trigger)
    con.execute("DROP TABLE episodes")
    con.execute("DROP TABLE term_counts")
    con.execute("DROP TABLE pair_counts")
    con.execute("DROP INDEX counts_goal")
    con.execute("DROP TABLE judged")
    con.execute("DROP TABLE question_vectors")
    con.execute("DROP INDEX nodes_time")
    con.execute("DELETE FROM _migrations WHERE name IN ('0005_episodes', '0006_term_counts',"
                " '0007_pair_counts', '0008_judged', '0009_memory_times')")
    con.execute("PRAGMA user_version = 4")
    con.commit()
    con.close()
    with Overlay(settings=settings, create=False) as ov:
        assert ov.store.migrated_from == 4
        assert ov.store.all_episodes() == expected
        assert ov.store.all_judged() == {}  # older verdicts stay evidence for every question
        ov.undo(verdicts[1])
        assert ov.store.all_episodes() == {"answer": (1, 0)}
