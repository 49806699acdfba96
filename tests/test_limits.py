"""Limits at run time: a question over its token limit is refused before any model work (CLI
and API); a request past its time budget, or whose client went away, stops its model work and
records nothing; Ctrl-C and SIGTERM stop a busy server in seconds with the store whole; a
read-only store and parallel writers get what they should; oversized chunked bodies get 413;
a truncated EDF says so."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from overlay import Overlay, Settings
from overlay.config import ServerConfig
from overlay.errors import LimitError
from overlay.lm.hf import HFModel
from overlay.server import create_app
from tests.served_helpers import free_port
from tests.server_helpers import live_server

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from overlay.cli import main; main()"]
VAULT = ROOT / "examples" / "vault"
EDF = ROOT / "examples" / "signals" / "eyes-closed.edf"
LOOPBACK = "http://127.0.0.1"
LONG = "Why does my sourdough starter smell of acetone after feeding? " * 1000  # ~62 KB
COMPOSE = {"mode": "compose"}


def chat(question: str, stream: bool = False) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": question}], "stream": stream,
            "overlay": COMPOSE}


def traces(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return int(con.execute("SELECT count(*) FROM traces").fetchone()[0])


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as con:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])


# ------------------------------------------------------------ question length
def test_a_long_question_is_refused_before_any_model_work(overlay: Overlay) -> None:
    with pytest.raises(LimitError, match=r"over the limit of 512 \(select.max_question_tokens\)"):
        overlay.ask("word " * 2000)
    client = TestClient(create_app(overlay, ServerConfig()), base_url=LOOPBACK)
    answer = client.post("/v1/chat/completions", json=chat("word " * 2000))
    assert answer.status_code == 413, answer.text
    assert "select.max_question_tokens" in answer.json()["error"]["message"]
    assert client.get("/v1/stats").json()["traces"] == 0


@pytest.mark.slow
def test_a_long_question_on_the_cli_is_one_line(tmp_path: Path) -> None:
    """62 KB once ran for minutes; now the command line refuses it unread, and a question
    short enough to read but over the token limit is counted by the default model's tokenizer
    and refused."""
    db = tmp_path / "o.db"
    with Overlay(settings=Settings.make(db=db, retrieve={"embedder": "hashing"})) as ov:
        ov.ingest([VAULT])
    done = subprocess.run([*CLI, "ask", LONG, "--db", str(db), "--embedder", "hashing"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "at most 20,000" in done.stderr
    done = subprocess.run([*CLI, "ask", LONG[:15_000], "--db", str(db), "--embedder", "hashing"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "select.max_question_tokens" in done.stderr
    assert "SmolLM2" in done.stderr and traces(db) == 0


# ------------------------------------------------------------- time budgets
@pytest.fixture
def busy(tmp_path: Path, smol: HFModel) -> Iterator[Overlay]:
    """The example vault behind the real default model, composing long answers."""
    settings = Settings.make(db=tmp_path / "o.db", retrieve={"embedder": "hashing"},
                             select={"max_tokens": 600})
    with Overlay(settings=settings, lm=smol) as ov:
        ov.ingest([VAULT])
        yield ov


@pytest.mark.slow
def test_a_request_past_its_budget_is_stopped_and_records_nothing(busy: Overlay) -> None:
    with live_server(busy, ServerConfig(request_seconds=1.0)) as url:
        answer = httpx.post(url + "/v1/chat/completions", json=chat("How do I feed a starter?"),
                            timeout=120)
        assert answer.status_code == 503, answer.text
        assert "time budget" in answer.json()["error"]["message"]
        assert httpx.get(url + "/v1/search", params={"q": "starter"}, timeout=10).status_code \
            == 200
        assert httpx.get(url + "/v1/stats", timeout=10).json()["traces"] == 0


@pytest.mark.slow
def test_a_client_that_leaves_stops_its_work(busy: Overlay) -> None:
    with live_server(busy) as url:
        with httpx.stream("POST", url + "/v1/chat/completions", timeout=120,
                          json=chat("How do I feed a starter?", stream=True)) as events:
            chunks = 0
            for line in events.iter_lines():
                chunks += line.startswith("data: ")
                if chunks >= 3:  # the answer is being written: leave
                    break
        time.sleep(1.0)
        settings = Settings.make(db=busy.path, retrieve={"embedder": "hashing"},
                                 select={"max_tokens": 8})
        with (Overlay(settings=settings, lm=busy.lm, create=False) as short,
              live_server(short) as other):  # the model is free again for the next one
            done = httpx.post(other + "/v1/chat/completions", timeout=120,
                              json=chat("What is a levain?"))
            assert done.status_code == 200
        assert busy.stats()["traces"] == 1  # the abandoned answer left no trace


# ------------------------------------------------------------------ signals
def _serve(db: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "serve", "--db", str(db), "--port", str(port),
                             "--embedder", "hashing"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _up(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise AssertionError(f"the server did not start: {proc.stderr.read() if proc.stderr else ''}")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_busy_server_stops_within_seconds(tmp_path: Path, sig: signal.Signals) -> None:
    db = tmp_path / "o.db"
    settings = Settings.make(db=db, retrieve={"embedder": "hashing"})
    with Overlay(settings=settings) as ov:
        ov.ingest([VAULT])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(db, port)
    try:
        _up(url, proc)

        def ask() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server goes away under it
                httpx.post(url + "/v1/chat/completions", json=chat("How do I feed a starter?"),
                           timeout=60)

        streamed: list[str] = []
        started = threading.Event()

        def stream() -> None:
            with contextlib.suppress(httpx.HTTPError), httpx.stream(
                    "POST", url + "/v1/chat/completions", timeout=60,
                    json=chat("What is a levain?", stream=True)) as events:
                started.set()  # its status is sent: the stream is under way
                streamed.extend(ln for ln in events.iter_lines() if ln.startswith("data: "))

        clients = [threading.Thread(target=ask) for _ in range(3)]
        clients.append(threading.Thread(target=stream))
        for c in clients:
            c.start()
        assert started.wait(120)  # an event, not a time: a busy machine only takes longer
        proc.send_signal(sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    for c in clients:
        c.join(timeout=60)
    log = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, log
    assert "Traceback" not in log and "never retrieved" not in log, log
    assert streamed and streamed[-1] == "data: [DONE]", streamed[-3:]
    if len(streamed) > 1 and '"error"' in streamed[-2]:
        assert "shutting down" in streamed[-2]
    assert integrity(db) == "ok"


def test_work_cut_off_at_shutdown_answers_503_not_a_traceback() -> None:
    """What uvicorn does when the grace period ends: it cancels the request's task."""
    import asyncio

    from overlay.cancel import Token
    from overlay.server.app import Stopping

    async def endless(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.Event().wait()

    async def run(stopping: Token) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        app = Stopping(endless, stopping)
        task = asyncio.ensure_future(app({"type": "http", "headers": []}, receive, send))
        await asyncio.sleep(0.05)
        stopping.cancel("the server is shutting down")
        task.cancel()
        await task
        return sent

    sent = asyncio.run(run(Token()))
    assert sent[0]["status"] == 503
    assert b"shutting down" in sent[1]["body"]

    async def not_stopping() -> None:  # any other cancellation still propagates
        task = asyncio.ensure_future(Stopping(endless, Token())({"type": "http"}, None, None))
        await asyncio.sleep(0.05)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(not_stopping())


# --------------------------------------------------------------- the store
def test_a_read_only_store_reads_and_refuses_writes_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "o.db"
    with Overlay(settings=Settings.make(db=db, retrieve={"embedder": "hashing"})) as ov:
        ov.learn("A levain is a portion of starter built up for one bake.")
    prefix: list[str] = []
    if os.geteuid() == 0:  # root writes anywhere: drop the capabilities that let it
        if not shutil.which("setpriv"):
            pytest.skip("running as root without util-linux's setpriv to drop its capabilities")
        prefix = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]
    db.chmod(0o444)
    folder.chmod(0o555)
    try:
        base = ["--db", str(db), "--embedder", "hashing"]
        found = subprocess.run([*prefix, *CLI, "search", "levain", *base, "--json"],
                               capture_output=True, text=True, timeout=60)
        assert found.returncode == 0, found.stderr
        assert "levain" in found.stdout
        wrote = subprocess.run([*prefix, *CLI, "learn", "Rye ferments fast.", *base],
                               capture_output=True, text=True, timeout=60)
        assert wrote.returncode == 1, wrote.stderr
        assert wrote.stderr.count("\n") == 1 and "read-only" in wrote.stderr
        assert "unexpected" not in wrote.stderr
        for args in (["ingest", str(VAULT)], ["ask", "What is a levain?", "--model", "fake"]):
            refused = subprocess.run([*prefix, *CLI, *args, *base], capture_output=True,
                                     text=True, timeout=120)
            assert refused.returncode == 1, refused.stderr
            assert refused.stderr.count("\n") == 1 and "read-only" in refused.stderr, args
            assert "Permission denied" not in refused.stderr
    finally:
        folder.chmod(0o755)
    # a log of writes not yet folded into the file, with no shared-memory file beside it
    logged = tmp_path / "logged"
    logged.mkdir()
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA wal_autocheckpoint = 0")
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("INSERT INTO _migrations VALUES ('not-a-migration', '')")
        for name in ("o.db", "o.db-wal"):
            shutil.copy(folder / name, logged / name)
    logged.chmod(0o555)
    try:
        read = subprocess.run([*prefix, *CLI, "stats", "--db", str(logged / "o.db")],
                              capture_output=True, text=True, timeout=60)
        assert read.returncode == 1 and read.stderr.count("\n") == 1, read.stderr
        assert "write-ahead log" in read.stderr and "not an overlay store" not in read.stderr
    finally:
        logged.chmod(0o755)


LEARNER = """
import sys
from overlay import Overlay, Settings
db, who = sys.argv[1], sys.argv[2]
with Overlay(settings=Settings.make(db=db), create=False) as ov:
    for i in range(25):
        ov.learn(f"Writer {who} noted fact number {i} about the levain.")
"""


@pytest.mark.slow
def test_parallel_learns_with_the_default_embedder_are_all_stored(tmp_path: Path) -> None:
    """Four processes learning 25 statements each with MiniLM (the default embedder, loaded
    and run outside the write transaction), and four CLI learns beside them."""
    db = tmp_path / "o.db"
    subprocess.run([*CLI, "init", "--db", str(db)], check=True, capture_output=True, timeout=60)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", LEARNER, str(db), str(w)], env=env,
                              stderr=subprocess.PIPE, text=True) for w in range(4)]
    procs += [subprocess.Popen([*CLI, "learn", f"The CLI learner {w} says hello.", "--db",
                                str(db)], env=env, stderr=subprocess.PIPE, text=True)
              for w in range(4)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    with sqlite3.connect(db) as con:
        learned = con.execute("SELECT count(*) FROM nodes WHERE text LIKE 'Writer % noted %'"
                              " OR text LIKE 'The CLI learner %'").fetchone()[0]
        vectors = con.execute("SELECT count(*) FROM vectors").fetchone()[0]
    assert learned == 104 and vectors == 104
    assert integrity(db) == "ok"


# ------------------------------------------------------------------ bodies
def test_an_oversized_chunked_body_gets_413(overlay: Overlay) -> None:
    client = TestClient(create_app(overlay, ServerConfig(max_body=4096)), base_url=LOOPBACK)

    def body() -> Iterator[bytes]:
        for _ in range(20):
            yield b'{"text": "' + b"x" * 1000

    answer = client.post("/v1/learn", content=body(), headers={"content-type": "application/json"})
    assert answer.status_code == 413 and overlay.stats()["nodes"] == 0


def test_an_alias_bomb_through_the_api_is_a_warning(overlay: Overlay, tmp_path: Path) -> None:
    vault = tmp_path / "v"
    vault.mkdir()
    laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    laughs += [f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi",
                                                                         strict=True)]
    (vault / "bomb.md").write_text("---\n" + "\n".join(laughs) + "\n---\n# Bomb\n")
    (vault / "ok.md").write_text("# Ok\n\nFine.\n")
    client = TestClient(create_app(overlay, ServerConfig(roots=[tmp_path])), base_url=LOOPBACK)
    done = client.post("/v1/ingest", json={"path": str(vault)})
    assert done.status_code == 200, done.text
    report = done.json()
    assert report["added"] == 1 and any("anchors and aliases" in w for w in report["warnings"])
    assert client.get("/v1/search", params={"q": "fine"}).status_code == 200


# ------------------------------------------------------------------ signals
def test_a_truncated_edf_says_truncated(tmp_path: Path) -> None:
    cut = tmp_path / "cut.edf"
    cut.write_bytes(EDF.read_bytes()[: EDF.stat().st_size // 3])
    done = subprocess.run([*CLI, "signal", "inspect", str(cut)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "truncated" in done.stderr and json.dumps(str(cut))[1:-1] in done.stderr


# -------------------------------------------------------------------- docs
def _default(setting: str) -> object:
    """The default of `select.max_tokens`, `server.max_body` or a constant's value."""
    import importlib

    section, _, name = setting.rpartition(".")
    if section.startswith("overlay."):
        return getattr(importlib.import_module(section), name)
    model = ServerConfig() if section == "server" else getattr(Settings(), section)
    return getattr(model, name)


def test_docs_limits_match_the_settings() -> None:
    rows = [line.split(" | ") for line in (ROOT / "docs" / "limits.md").read_text().splitlines()
            if line.startswith("| ") and "`" in line]
    assert len(rows) >= 15
    for row in rows:
        setting = row[2].split("`")[1]
        shown = row[1].split()[0].replace(",", "")
        value = _default(setting)
        expected = {"off": False, "on": True}.get(shown, shown)
        if isinstance(value, bool) or isinstance(expected, bool):
            assert value is expected, row
        else:
            assert float(expected) == float(value), row  # type: ignore[arg-type]
