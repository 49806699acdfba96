"""Hostile requests, round two: a client that leaves a non-streaming request stops its work
and leaves no trace; a stream that fails after it started says so and ends with [DONE]; a
question over its limit is refused before a stream starts; an ingest has its own time budget
and reads go on while it runs; Host headers are read as a browser writes them.

The model here is the deterministic fake, slowed down, so that each request is sure to be in
the middle of its work when its client leaves (the plumbing is what is tested, not a model)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from overlay import Overlay, Settings
from overlay.config import ServerConfig
from overlay.lm.base import Generation, Scored
from overlay.lm.fake import FakeLM
from overlay.retrieve.embed import HashingEmbedder
from tests.server_helpers import live_server

ROOT = Path(__file__).resolve().parents[1]
VAULT = ROOT / "examples" / "vault"


class SlowLM(FakeLM):
    """The fake LM, taking its time: `pause` seconds a scoring pass and a tenth of that a
    generated token. It counts both, so a test sees when work stops."""

    def __init__(self, pause: float = 0.4) -> None:
        super().__init__()
        self.pause, self.scored, self.tokens = pause, 0, 0

    def score(self, prompt: str, continuations: Sequence[str]) -> list[Scored]:
        time.sleep(self.pause)
        self.scored += 1
        return super().score(prompt, continuations)

    def steps(self, prompt: str, logits_processors: Sequence[Any] = (), max_tokens: int = 128,
              stop: Sequence[str] = (), **kw: Any) -> Generator[None, None, Generation]:
        inner = super().steps(prompt, logits_processors, max_tokens, stop, **kw)
        while True:
            time.sleep(self.pause / 10)
            try:
                next(inner)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            self.tokens += 1
            yield


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[tuple[Overlay, SlowLM]]:
    lm = SlowLM()
    settings = Settings.make(db=tmp_path / "o.db", retrieve={"embedder": "hashing"},
                             select={"max_tokens": 400, "lm_at_ask": "always"})
    with Overlay(settings=settings, lm=lm) as ov:
        ov.ingest([VAULT])
        yield ov, lm


def settle(count: Any, quiet: float = 1.5, longest: float = 120) -> int:
    """Wait until `count()` has not changed for `quiet` seconds; return it."""
    last, since, end = count(), time.monotonic(), time.monotonic() + longest
    while time.monotonic() < end:
        time.sleep(0.1)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return int(last)


def ask(question: str, mode: str = "statement", stream: bool = False) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": question}], "stream": stream,
            "overlay": {"mode": mode}}


@pytest.mark.parametrize("mode", ["statement", "compose"])
def test_a_client_that_leaves_a_plain_request_stops_it(
        slow: tuple[Overlay, SlowLM], mode: str) -> None:
    overlay, lm = slow
    whole = overlay.ask("How do I feed a starter?", mode=mode)  # the same work, left alone
    passes, tokens = lm.scored, lm.tokens
    lm.scored = lm.tokens = 0
    with live_server(overlay) as url:
        with pytest.raises(httpx.TimeoutException):  # the client gives up and disconnects
            httpx.post(url + "/v1/chat/completions", json=ask("How do I feed a starter?", mode),
                       timeout=0.3)
        work = settle(lambda: lm.scored + lm.tokens)
        assert work < passes + tokens, "the abandoned request ran to its end"
        assert httpx.get(url + "/v1/stats").json()["traces"] == 1  # only the one asked above
    assert whole.answer


def test_a_stream_past_its_budget_ends_with_an_error_event_and_done(
        slow: tuple[Overlay, SlowLM]) -> None:
    overlay, _ = slow
    with live_server(overlay, ServerConfig(request_seconds=1.0)) as url, httpx.stream(
            "POST", url + "/v1/chat/completions", timeout=60,
            json=ask("How do I feed a starter?", "compose", stream=True)) as events:
        assert events.status_code == 200
        lines = [line for line in events.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    error = json.loads(lines[-2].removeprefix("data: "))["error"]
    assert error["type"] == "cancelled" and "time budget" in error["message"]
    assert overlay.stats()["traces"] == 0


def test_a_question_over_its_limit_is_refused_before_a_stream_starts(
        slow: tuple[Overlay, SlowLM]) -> None:
    overlay, lm = slow
    with live_server(overlay) as url:
        answer = httpx.post(url + "/v1/chat/completions", timeout=120,
                            json=ask("word " * 3_000, stream=True))  # 15 KB, 3,000 tokens
        huge = httpx.post(url + "/v1/chat/completions", timeout=120,
                          json=ask("before " * 140_000 + "\nx"))  # 980 KB: once froze it
        assert httpx.get(url + "/health", timeout=10).status_code == 200
    assert answer.status_code == 413, answer.text[:200]
    assert "select.max_question_tokens" in answer.json()["error"]["message"]
    assert huge.status_code == 422 and "20000 characters" in huge.text, huge.text[:200]
    assert lm.scored == 0 and lm.tokens == 0


def test_an_ingest_has_its_own_budget_and_reads_go_on(tmp_path: Path,
                                                     slow: tuple[Overlay, SlowLM]) -> None:
    overlay, _ = slow
    vault = tmp_path / "big"
    vault.mkdir()
    for i in range(400):
        (vault / f"n{i:03}.md").write_text(f"# Note {i}\n\n" + "A paragraph.\n\n" * 60)
    config = ServerConfig(roots=[vault], ingest_seconds=0.5)
    with live_server(overlay, config) as url:
        answers: list[int] = []

        def read() -> None:
            while not done.is_set():
                answers.append(httpx.get(url + "/v1/search", params={"q": "levain"},
                                         timeout=60).status_code)

        done = threading.Event()
        reader = threading.Thread(target=read)
        reader.start()
        try:
            answer = httpx.post(url + "/v1/ingest", json={"path": str(vault)}, timeout=120)
        finally:
            done.set()
            reader.join()
        assert answer.status_code == 503, answer.text[:200]
        assert "time budget" in answer.json()["error"]["message"]
        assert answers and set(answers) == {200}
        kept = httpx.get(url + "/v1/stats").json()["files"]
    assert kept < 400  # each file written before the budget ran out is kept (none, on a
    # machine slow enough: the budget is time, so the count is not asserted)
    config = ServerConfig(roots=[vault])
    with live_server(overlay, config) as url:  # run again: it goes on where it stopped
        report = httpx.post(url + "/v1/ingest", json={"path": str(vault)}, timeout=600).json()
        assert report["unchanged"] + report["added"] == 400


class GateEmbedder(HashingEmbedder):
    """Hashing vectors; a batch of texts (an ingest's) waits at the gate, one text (a question,
    a learned statement) does not."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.gate = threading.Event(), threading.Event()

    def embed(self, texts: list[str], batch_size: int = 64) -> Any:
        if len(texts) > 1 and not self.gate.is_set():
            self.entered.set()
            self.gate.wait(120)
        return super().embed(texts, batch_size)


def test_chats_and_learns_go_on_while_an_ingest_runs(tmp_path: Path) -> None:
    """The ingest is held inside its embedding until the chat and the learn are answered:
    they wait for an event, not a time, and would hang if the ingest held the writer."""
    embedder = GateEmbedder()
    embedder.gate.set()
    overlay = Overlay(settings=Settings.make(db=tmp_path / "o.db", lm={"model": "fake"}),
                      embedder=embedder)
    overlay.ingest([VAULT])
    embedder.gate.clear()
    new = tmp_path / "new"
    new.mkdir()
    for i in range(3):
        (new / f"n{i}.md").write_text(f"# New {i}\n\nA rye levain note, number {i}.\n")
    try:
        with live_server(overlay, ServerConfig(roots=[new])) as url:
            done: list[httpx.Response] = []
            ingest = threading.Thread(target=lambda: done.append(httpx.post(
                url + "/v1/ingest", json={"path": str(new)}, timeout=300)))
            ingest.start()
            assert embedder.entered.wait(120)  # the ingest is inside its embedding now
            chat = httpx.post(url + "/v1/chat/completions", timeout=120,
                              json=ask("How do I keep a sourdough starter alive?"))
            learned = httpx.post(url + "/v1/learn", timeout=120,
                                 json={"text": "A starter likes rye flour."})
            assert not done  # both answered while the ingest waited
            embedder.gate.set()
            ingest.join(300)
            assert chat.status_code == 200 and learned.status_code == 200, chat.text[:200]
            assert done[0].status_code == 200 and done[0].json()["added"] == 3
            hits = httpx.get(url + "/v1/search", params={"q": "rye levain note"}).json()
            assert any("New" in h["title"] for h in hits)
    finally:
        embedder.gate.set()
        overlay.close()


@pytest.mark.parametrize(("host", "status"), [
    ("LOCALHOST", 200), ("localhost", 200), ("[::1]", 200), ("[::1]:8765", 200),
    ("127.0.0.1:1", 200), ("evil.example", 403), ("evil.example:8765", 403), ("[::2]", 403)])
def test_host_headers_as_browsers_write_them(slow: tuple[Overlay, SlowLM], host: str,
                                             status: int) -> None:
    with live_server(slow[0]) as url:
        assert httpx.get(url + "/v1/models", headers={"Host": host}).status_code == status


def test_a_request_with_no_host_is_refused(slow: tuple[Overlay, SlowLM]) -> None:
    with live_server(slow[0]) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(b"GET /v1/models HTTP/1.0\r\n\r\n")
            head = raw.recv(200).decode()
    assert head.split()[1] == "400", head


def test_an_empty_search_is_refused(slow: tuple[Overlay, SlowLM]) -> None:
    with live_server(slow[0]) as url:
        answer = httpx.get(url + "/v1/search", params={"q": " "})
    assert answer.status_code == 400 and "empty" in answer.json()["error"]["message"]


def test_a_body_that_does_not_arrive_gets_408(slow: tuple[Overlay, SlowLM]) -> None:
    """A client that declares a body and sends a few bytes of it is answered 408 once the
    body's time has passed, and its connection is let go; others are answered meanwhile."""
    with live_server(slow[0], ServerConfig(body_seconds=0.5)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=60) as raw:
            raw.sendall(b"POST /v1/learn HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                        b"application/json\r\nContent-Length: 100\r\n\r\n{\"te")
            assert httpx.get(url + "/health", timeout=30).status_code == 200
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = raw.recv(4096)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
