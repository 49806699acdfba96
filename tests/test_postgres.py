"""The PostgreSQL store on a real PostgreSQL 18 with pgvector: the same schema history as
SQLite's, the same BM25 ranking, a copy there and back that changes nothing, several writers
at once that lose nothing, and errors that say what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest
from typer.testing import CliRunner

from overlay import Overlay, Settings
from overlay.cli import app
from overlay.errors import StoreError
from overlay.graph import Node, NodeKind
from overlay.lexical import analyze
from overlay.store import SQLiteStore, Store
from overlay.store.migrations import MIGRATIONS
from overlay.store.postgres.schema import MIGRATIONS as PG_MIGRATIONS
from overlay.store.postgres.store import PostgresStore
from tests.conftest import VAULT, VAULT_RU
from tests.server_helpers import servers
from tests.test_cli import main_exit

MEMORIES = VAULT.parent / "memories"
runner = CliRunner()


def settings(db: Path | str) -> Settings:
    return Settings.make(db=db, retrieve={"embedder": "hashing"}, lm={"model": "fake"})


def test_the_migrations_are_sqlites_by_name() -> None:
    assert [name for name, _ in PG_MIGRATIONS] == [m.name for m in MIGRATIONS]


def test_a_new_database_gets_the_schema_and_a_reopen_checks_it(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    assert store.stats()["schema_version"] == len(MIGRATIONS)
    store.close()
    again = PostgresStore(pg_url, create=False)
    assert again.migrated_from is None
    again.close()


def test_unreachable_empty_and_foreign_databases_are_refused_in_one_line(
        pg_server: object, pg_url: str) -> None:
    with pytest.raises(StoreError, match="overlay init"):
        PostgresStore(pg_url, create=False)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE nodes (x int)")
    with pytest.raises(StoreError, match="not an overlay store"):
        PostgresStore(pg_url)
    with pytest.raises(StoreError, match="cannot connect") as caught:
        PostgresStore("postgresql://nobody:secret@127.0.0.1:1/none")
    assert "secret" not in str(caught.value) and "\n" not in str(caught.value)


def test_lexical_ranking_is_sqlites_bm25(tmp_path: Path, pg_url: str) -> None:
    """Every list and score the same on both backends, over English, Russian and chats."""
    lists = {}
    for name, db in (("sqlite", tmp_path / "s.db"), ("postgresql", pg_url)):
        with Overlay(settings=settings(db)) as ov:
            ov.ingest([VAULT, VAULT_RU, MEMORIES])
            texts = [n.text[:120] for n in ov.store.iter_nodes()][::2]
            lists[name] = [ov.store.lexical_search(analyze(t), 10) for t in texts]
            lists[name + " filtered"] = [ov.store.lexical_search(analyze(t), 5, keys=range(40))
                                         for t in texts[:20]]
    for kind in ("", " filtered"):
        ours, theirs = lists["postgresql" + kind], lists["sqlite" + kind]
        assert [[i for i, _ in r] for r in ours] == [[i for i, _ in r] for r in theirs]
        for mine, other in zip(ours, theirs, strict=True):
            assert np.allclose([s for _, s in mine], [s for _, s in other], rtol=1e-9)
    assert sum(map(len, lists["postgresql"])) > 100


def learned(db: Path | str) -> dict[str, object]:
    """A store with every kind of row: ingested notes and chats, asks and verdicts, a lesson,
    a correction, an undo, a signal level."""
    with Overlay(settings=settings(db)) as ov:
        ov.ingest([VAULT, MEMORIES])
        one = ov.ask("How do I feed a sourdough starter?")
        ov.feedback(one.id, "good")
        two = ov.ask("What is hooch?")
        ov.feedback(two.id, "bad", correct="Hooch is the liquid on a hungry starter.")
        undone = ov.learn("Rye flour ferments faster than wheat.")["event"]
        ov.undo(undone)
        ov.modulate("gain", "", 0.25)
        return everything(ov.store)


def everything(store: Store) -> dict[str, object]:
    return {"events": [(e.id, e.ts, e.kind, e.payload) for e in store.events(10_000)],
            "counts": store.all_counts(), "episodes": store.all_episodes(),
            "terms": store.all_term_counts(), "judged": store.all_judged(),
            "pairs": store.all_pair_counts(), "coactivations": store.coactivations(0),
            "modulation": store.modulation(), "undone": store.undone(),
            "nodes": [(n.id, n.text, n.meta) for n in store.iter_nodes()],
            "links": sorted((e.edge.src, e.edge.dst or "", e.edge.kind.value)
                            for e in store.link_edges()),
            "vectors": store.count_vectors("hashing-256"), "stats": store.stats(),
            "latest": store.latest_trace()}


def test_a_copy_there_and_back_changes_nothing(tmp_path: Path, pg_url: str) -> None:
    """SQLite → PostgreSQL → SQLite by `overlay store copy`: the event log and every count
    identical, and the copy in PostgreSQL answers as the original does."""
    first, back = tmp_path / "first.db", tmp_path / "back.db"
    before = learned(first)
    there = runner.invoke(app, ["store", "copy", str(first), pg_url, "--json"])
    assert there.exit_code == 0, there.output
    assert json.loads(there.stdout)["events"] == len(before["events"])  # type: ignore[arg-type]
    with closing(PostgresStore(pg_url, create=False)) as store:
        assert everything(store) == before
    with Overlay(settings=settings(pg_url), create=False) as ov:  # and goes on from there
        assert ov.search("sourdough starter", k=3)
        trace = ov.ask("How do I feed a sourdough starter?")
        assert ov.feedback(trace.id, "good")["event"] > max(
            e[0] for e in before["events"])  # type: ignore[union-attr]
    home = runner.invoke(app, ["store", "copy", pg_url, str(back)])
    assert home.exit_code == 0, home.output
    after = everything(SQLiteStore(back))
    with closing(PostgresStore(pg_url, create=False)) as store:
        assert after == everything(store)


def test_a_copy_into_a_store_that_holds_something_is_refused(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    learned(tmp_path / "a.db")
    with Overlay(settings=settings(pg_url)) as ov:
        ov.learn("Something already here.")
    assert main_exit(["store", "copy", str(tmp_path / "a.db"), pg_url], monkeypatch) == 1
    assert "not empty" in capsys.readouterr().err
    with closing(PostgresStore(pg_url, create=False)) as store:
        assert store.stats()["nodes"] == 1  # nothing of the copy is left
    assert main_exit(["store", "copy", pg_url, str(tmp_path / "a.db")], monkeypatch) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and err.count("\n") == 1


def at_once(work: Callable[[int], None], count: int) -> list[BaseException]:
    """`work(0)` … `work(count - 1)` in threads at once; what they raised."""
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            work(k)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_writers_lose_no_increment(pg_url: str) -> None:
    """8 connections (as 8 processes would) add to the same counts at once: each row holds
    the sum of every delta, and every change left exactly one event."""
    with closing(PostgresStore(pg_url)) as store, store.change("seed"):
        store.put_nodes([Node(id=f"n{i}", kind=NodeKind.FACT, title="", text=f"fact {i}",
                              hash=str(i)) for i in range(4)])

    def writer(k: int) -> None:
        with closing(PostgresStore(pg_url, create=False)) as mine:
            for i in range(25):
                with mine.change("feedback", worker=k, i=i):
                    rows = [(f"n{j}", "answer", 1, i % 2) for j in range(4)]
                    mine.add_counts(rows if k % 2 else rows[::-1])
                    mine.add_episodes([("answer", 1, 0)])
                    mine.add_pair_counts([("n0", "n1", "answer", 1, 0)])

    assert at_once(writer, 8) == []
    with closing(PostgresStore(pg_url, create=False)) as store:
        assert store.all_counts() == {(f"n{j}", "answer"): (200, 96) for j in range(4)}
        assert store.all_episodes() == {"answer": (200, 0)}
        assert store.all_pair_counts() == {("n0", "n1", "answer"): (200, 0)}
        assert len(store.events(1000)) == 201


def test_verdicts_from_two_overlays_on_one_database_all_count(pg_url: str) -> None:
    """Two overlays (two processes' worth: their own connections) ask and judge at once,
    each on its own traces: every verdict is an episode, none is lost."""
    with Overlay(settings=settings(pg_url)) as ov:
        ov.ingest([VAULT])

    def judge(k: int) -> None:
        with Overlay(settings=settings(pg_url), create=False) as ov:
            for i in range(6):
                trace = ov.ask(f"How do I feed a sourdough starter? ({k}.{i})")
                ov.feedback(trace.id, "good" if i % 3 else "bad")

    assert at_once(judge, 2) == []
    with Overlay(settings=settings(pg_url), create=False) as ov:
        assert ov.store.all_episodes() == {"answer": (8, 4)}
        assert len([e for e in ov.store.events(1000) if e.kind == "feedback"]) == 12


def test_an_evaluation_works_in_a_scratch_database_that_is_dropped(pg_url: str) -> None:
    with Overlay(settings=settings(pg_url)) as ov:
        ov.ingest([VAULT])
        with ov.scratch() as copy, Overlay(settings=settings(copy), create=False) as other:
            assert isinstance(copy, str) and copy != pg_url
            assert other.store.stats()["nodes"] == ov.store.stats()["nodes"]
            other.learn("Only in the scratch copy.")
        assert not ov.search("Only in the scratch copy", k=1) or all(
            "scratch" not in h.snippet for h in ov.search("Only in the scratch copy", k=3))
        with psycopg.connect(pg_url) as conn:
            names = [r[0] for r in conn.execute("SELECT datname FROM pg_database")]
        assert not [n for n in names if "_scratch_" in n]


def test_the_cli_works_over_postgresql(pg_url: str) -> None:
    env = {"OVERLAY_DB": pg_url}
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    done = runner.invoke(app, ["ingest", str(VAULT), "--embedder", "hashing"], env=env)
    assert done.exit_code == 0, done.output
    found = runner.invoke(app, ["search", "sourdough starter", "--json", "--embedder",
                                "hashing"], env=env)
    assert found.exit_code == 0 and json.loads(found.stdout), found.output
    stats = json.loads(runner.invoke(app, ["stats", "--json", "--db", pg_url]).stdout)
    assert stats["nodes"] > 50 and "secret" not in stats["db"]
    assert os.environ.get("OVERLAY_DB") != pg_url


def test_two_servers_over_one_database_lose_no_write(pg_url: str) -> None:
    """Two `overlay serve` processes, four clients each asking, judging and teaching through
    both at once: every request answered, every verdict and lesson stored once."""
    with Overlay(settings=settings(pg_url)) as ov:
        ov.ingest([VAULT])

    def client(k: int, bases: list[str]) -> list[int]:
        codes: list[int] = []
        with httpx.Client(timeout=300) as http:
            for i in range(6):
                base = bases[(k + i) % len(bases)]
                chat = http.post(base + "/v1/chat/completions", json={"messages": [
                    {"role": "user", "content": f"How do I feed a starter? ({k}.{i})"}]})
                codes.append(chat.status_code)
                trace = chat.json()["overlay"]["trace_id"]
                judged = bases[(k + i + 1) % len(bases)]  # judged through the other one
                codes.append(http.post(judged + "/v1/feedback", json={
                    "trace_id": trace, "verdict": "good" if i % 2 else "bad"}).status_code)
                codes.append(http.post(base + "/v1/learn", json={
                    "text": f"Client {k} learned fact {i} about the levain."}).status_code)
        return codes

    with servers(pg_url, 2) as bases, ThreadPoolExecutor(4) as pool:
        codes = [c for batch in pool.map(lambda k: client(k, bases), range(4)) for c in batch]
    assert codes == [200] * 72
    with Overlay(settings=settings(pg_url), create=False) as ov:
        assert ov.store.all_episodes() == {"answer": (12, 12)}
        kinds = [e.kind for e in ov.store.events(10_000)]
        assert kinds.count("feedback") == 24 and kinds.count("learn") == 24
        assert len(ov.search("Client 3 learned fact 5 about the levain", k=3)) > 0


def test_a_nul_character_is_refused_in_one_line_and_nothing_is_written(pg_url: str) -> None:
    """SQLite keeps U+0000 in text; PostgreSQL cannot, so a lesson holding one is refused
    whole, and the store is as it was."""
    with Overlay(settings=settings(pg_url)) as ov:
        ov.learn("A clean lesson.")
        before = everything(ov.store)
        with pytest.raises(StoreError, match="NUL character"):
            ov.learn("A lesson with a \x00 in it.")
        assert everything(ov.store) == before


def test_memories_filter_alike_on_both_backends(tmp_path: Path, pg_url: str) -> None:
    """A speaker, given dates and a named time keep a search to the same turns."""
    found = {}
    asks = (("croissants", "Boris", None, None), ("What went wrong with the croissants last "
            "May?", None, None, None), ("flour order", None, "2024-05", "2024-06"))
    for name, db in (("sqlite", tmp_path / "s.db"), ("postgresql", pg_url)):
        with Overlay(settings=settings(db)) as ov:
            ov.ingest([MEMORIES])
            found[name] = [[(h.node_id, h.speaker, h.time)
                            for h in ov.search(q, 5, ov.scope(q, who, since, until))]
                           for q, who, since, until in asks]
            found[name + " span"] = ov.store.time_span()
    assert found["postgresql span"] == found["sqlite span"] is not None
    assert [[i for i, *_ in hits] for hits in found["postgresql"]] == [
        [i for i, *_ in hits] for hits in found["sqlite"]]
    assert found["postgresql"][0] and all(who == "Boris" for _, who, _ in found["postgresql"][0])


def test_the_ingest_lock_is_held_across_connections(pg_url: str) -> None:
    order: list[str] = []
    first, second = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        def hold() -> None:
            with second.lock("ingest"):
                order.append("second")

        with first.lock("ingest"):
            other = threading.Thread(target=hold)
            other.start()
            other.join(timeout=1.0)
            order.append("first")
        other.join()
        assert order == ["first", "second"]
    finally:
        first.close()
        second.close()


def test_merge_and_revert_work_across_backends(tmp_path: Path, pg_url: str) -> None:
    """A SQLite overlay's lessons and verdicts merged into a PostgreSQL one, once (a second
    merge finds nothing new); a revert takes them back."""
    learned(tmp_path / "mine.db")
    with Overlay(settings=settings(pg_url)) as ov:
        ov.ingest([VAULT])
        start = ov.store.events(1)[0].id
        before = ov.store.all_counts()
        done = ov.merge(str(tmp_path / "mine.db"))
        assert done["imported"] > 0 and ov.store.all_counts() != before
        assert ov.merge(str(tmp_path / "mine.db"))["imported"] == 0
        ov.revert(start)
        assert ov.store.all_counts() == before


def test_a_server_left_by_a_killed_run_is_stopped_at_the_next_start() -> None:
    """A test run killed with SIGKILL cannot stop its PostgreSQL; the next run's start finds
    the server whose owner is gone and stops it, so none is left behind for long."""
    import psutil

    from tests.pgserver import LocalServer

    code = ("import sys, time; sys.path.insert(0, '.'); from tests.pgserver import LocalServer;"
            " s = LocalServer(); print(s.folder, flush=True); time.sleep(600)")
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[1])
    try:
        assert owner.stdout is not None
        folder = owner.stdout.readline().strip()
    finally:
        owner.kill()
        owner.wait()

    def left() -> list[psutil.Process]:
        return [p for p in psutil.process_iter(attrs=["name", "cmdline"])
                if p.info["name"] == "postgres" and folder
                and any(folder in c for c in p.info["cmdline"] or [])]

    assert folder and left()  # SIGKILL stopped nothing
    LocalServer().stop()
    gone = [p for p in left() if p.is_running()]
    psutil.wait_procs(gone, timeout=30)
    assert not [p for p in gone if p.is_running()] and not Path(folder).exists()


def test_a_database_url_stays_a_url_and_a_path_stays_a_path(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = "postgresql://me:pw@db.example:5432/overlay?sslmode=require"
    assert Settings.make(db=url).db == url  # a Path would fold its '//'
    assert Settings.make(db=str(tmp_path / "o.db")).db == tmp_path / "o.db"
    monkeypatch.setenv("OVERLAY_DB", "postgres://db.example/overlay")
    assert Settings.make().db == "postgres://db.example/overlay"
    from overlay.store.postgres.connection import shown

    assert shown(url) == "postgresql://me@db.example:5432/overlay?sslmode=require"


def test_a_server_gone_mid_ingest_is_one_store_error(pg_url: str, tmp_path: Path) -> None:
    """The connection is cut under an open overlay (as when the server is killed): the ingest
    fails with one StoreError that says PostgreSQL lost it, not an OperationalError."""
    settings = Settings.make(db=pg_url, retrieve={"embedder": "hashing"}, lm={"model": "fake"})
    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "a.md").write_text("# A\n\nA levain floats when it is ready.\n")
    with Overlay(settings=settings) as ov:
        pid = ov.store.db.conn.info.backend_pid
        with psycopg.connect(pg_url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreError, match="PostgreSQL") as caught:
            ov.ingest([vault])
        assert "\n" not in str(caught.value)
