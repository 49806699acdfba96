"""The HTTP face: the real `openai` client against a live server (both modes), auth, path
restriction, limits, concurrency, the OpenAPI schema under schemathesis, and `overlay serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from overlay import ConfigError, Overlay, Settings
from overlay.server import ServerConfig, create_app
from tests.server_helpers import live_server

ROOT = Path(__file__).resolve().parents[1]
VAULT = ROOT / "examples" / "vault"
LOOPBACK = "http://127.0.0.1"  # a real loopback Host header: the server names no test host


def make_overlay(db: Path, lm: str = "fake") -> Overlay:
    ov = Overlay(settings=Settings.make(db=db, retrieve={"embedder": "hashing"}, lm={"model": lm}))
    ov.ingest([VAULT])
    return ov


@pytest.fixture(scope="module")
def smol_overlay(tmp_path_factory: pytest.TempPathFactory, smol: object) -> Iterator[Overlay]:
    """The example vault behind the real default LM (hashing vectors keep it quick)."""
    ov = make_overlay(tmp_path_factory.mktemp("srv") / "o.db")
    ov.lm = smol  # type: ignore[assignment]
    yield ov
    ov.close()


@pytest.fixture
def fake_overlay(tmp_path: Path) -> Iterator[Overlay]:
    ov = make_overlay(tmp_path / "o.db")
    yield ov
    ov.close()


# ------------------------------------------------------------ openai client
def test_openai_client_both_modes(smol_overlay: Overlay) -> None:
    with live_server(smol_overlay) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list()] == ["overlay"]
        question = [{"role": "user", "content": "How do I keep a sourdough starter alive?"}]
        done = client.chat.completions.create(model="overlay", messages=question)  # type: ignore[arg-type]
        answer = done.choices[0].message.content
        extra = done.model_extra or {}
        assert answer and extra["overlay"]["known"] and extra["overlay"]["citations"]
        trace = smol_overlay.trace(extra["overlay"]["trace_id"])
        assert trace.answer == answer  # the text is what `ask` gives
        assert done.usage is not None and done.usage.completion_tokens > 0

        stream = client.chat.completions.create(model="overlay", messages=question, stream=True)  # type: ignore[arg-type]
        chunks = list(stream)
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert streamed == answer  # statement mode is deterministic: same selection
        last = chunks[-1].model_extra or {}
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert last["overlay"]["citations"] == extra["overlay"]["citations"]

        composed = client.chat.completions.create(
            model="overlay",
            messages=[{"role": "user", "content": "What does the float test tell me?"}],
            extra_body={"overlay": {"mode": "compose"}},
        )
        spans = (composed.model_extra or {})["overlay"]["spans"]
        assert composed.choices[0].message.content and any(s["nodes"] for s in spans)

        with pytest.raises(openai.BadRequestError, match="no user message"):
            client.chat.completions.create(
                model="overlay", messages=[{"role": "system", "content": "be brief"}]
            )


# --------------------------------------------------------------------- auth
def test_token_guards_every_route_but_health(fake_overlay: Overlay) -> None:
    config = ServerConfig(token="s3cret-token")
    with live_server(fake_overlay, config) as url:
        assert httpx.get(url + "/health").status_code == 200
        for path in ("/v1/models", "/v1/stats", "/", "/static/app.js", "/openapi.json", "/docs"):
            r = httpx.get(url + path)
            assert r.status_code == 401, path
            assert r.json()["error"]["type"] == "unauthorized"
        wrong = httpx.get(url + "/v1/models", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = httpx.get(url + "/v1/models", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        client = openai.OpenAI(base_url=url + "/v1", api_key="s3cret-token", max_retries=0)
        assert client.models.list().data[0].id == "overlay"
        with httpx.Client(base_url=url) as browser:  # the UI: ?token= once, then a cookie
            first = browser.get("/?token=s3cret-token", follow_redirects=False)
            assert first.status_code == 303 and "httponly" in first.headers["set-cookie"].lower()
            assert browser.get("/v1/stats").status_code == 200
            assert "Overlay" in browser.get("/").text


def test_refuses_to_listen_beyond_loopback_without_a_token() -> None:
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0 without --token"):
        ServerConfig(host="0.0.0.0").check()
    ServerConfig(host="0.0.0.0", token="long-enough-token").check()
    ServerConfig(host="::1").check()
    with pytest.raises(ConfigError, match="at least 8"):
        ServerConfig(token="short").check()


def test_host_header_must_name_this_machine(fake_overlay: Overlay) -> None:
    with live_server(fake_overlay) as url:
        assert httpx.get(url + "/v1/models", headers={"Host": "evil.example"}).status_code == 403
        assert httpx.get(url + "/v1/models", headers={"Host": "localhost:1"}).status_code == 200


# ------------------------------------------------------------------- paths
def test_ingest_reads_only_inside_the_vault_roots(tmp_path: Path, fake_overlay: Overlay) -> None:
    root = tmp_path / "vault"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "note.md").write_text("# Note\n\nRye likes a wet dough.\n", encoding="utf-8")
    secret = tmp_path / "secret.md"
    secret.write_text("# Secret\n\nnot for the server\n", encoding="utf-8")
    (root / "link.md").symlink_to(secret)
    client = TestClient(create_app(fake_overlay, ServerConfig(roots=[root])), base_url=LOOPBACK)
    for path in (str(secret), "../secret.md", str(root / "link.md"), "/etc/passwd"):
        r = client.post("/v1/ingest", json={"path": path})
        assert r.status_code == 403, path
    assert client.post("/v1/ingest", json={"path": "nowhere"}).status_code == 404
    report = client.post("/v1/ingest", json={"path": "sub"}).json()
    assert report["added"] == 1
    hits = client.get("/v1/search", params={"q": "secret not for the server"}).json()
    assert hits and not any(
        "secret" in (h["source"] or "") or "not for the server" in h["snippet"] for h in hits
    )
    closed = TestClient(create_app(fake_overlay, ServerConfig()), base_url=LOOPBACK)
    r = closed.post("/v1/ingest", json={"path": str(root)})
    assert r.status_code == 403 and "--vault" in r.json()["error"]["message"]
    assert "db" not in closed.get("/v1/stats").json()


def test_a_streamed_ingest_reports_each_stage_with_an_eta(tmp_path: Path,
                                                         fake_overlay: Overlay) -> None:
    root = tmp_path / "vault"
    root.mkdir()
    for i in range(30):
        (root / f"n{i}.md").write_text(f"# Note {i}\n\nRye dough number {i}.\n", "utf-8")
    client = TestClient(create_app(fake_overlay, ServerConfig(roots=[root])), base_url=LOOPBACK)
    r = client.post("/v1/ingest", json={"path": str(root), "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    lines = [ln.removeprefix("data: ") for ln in r.text.split("\n\n") if ln]
    assert lines[-1] == "[DONE]"
    events = [json.loads(ln) for ln in lines[:-1]]
    progress = [e["progress"] for e in events[:-1]]
    assert {p["stage"] for p in progress} >= {"read", "write"}
    for p in progress:
        assert set(p) == {"stage", "done", "total", "elapsed_s", "eta_s"}
        assert 0 <= p["done"] <= p["total"] and (p["eta_s"] is None or p["eta_s"] >= 0)
    assert any(p["done"] == p["total"] == 30 and p["eta_s"] == 0 for p in progress)
    assert events[-1]["report"]["added"] == 30
    again = client.post("/v1/ingest", json={"path": "nowhere", "stream": True})
    assert again.status_code == 404  # refused before any event is sent


# ------------------------------------------------------------------ errors
def test_errors_are_json_with_the_right_status(fake_overlay: Overlay) -> None:
    client = TestClient(create_app(fake_overlay, ServerConfig(max_body=4096)), base_url=LOOPBACK)
    assert client.get("/v1/nodes/ffffffff").status_code == 404
    assert client.get("/v1/traces/ffffffff").status_code == 404
    assert client.post("/v1/undo", json={"event_id": 123456}).status_code == 404
    bad = client.post("/v1/feedback", json={"trace_id": "x", "verdict": "meh"})
    assert bad.status_code == 422 and "verdict" in bad.json()["error"]["message"]
    assert client.post("/v1/learn", json={"text": "x" * 5000}).status_code == 413
    assert client.post("/v1/learn", json={"text": "   "}).status_code == 400
    answer = client.post("/v1/chat/completions",
                         json={"messages": [{"role": "user", "content": "What is a levain?"}]})
    trace_id = answer.json()["overlay"]["trace_id"]
    good = client.post("/v1/feedback", json={"trace_id": trace_id, "verdict": "good"})
    assert good.status_code == 200
    again = client.post("/v1/feedback", json={"trace_id": trace_id, "verdict": "bad"})
    assert again.status_code == 409 and "undo" in again.json()["error"]["message"]


def test_feedback_moves_the_weight_and_undo_restores_it(fake_overlay: Overlay) -> None:
    client = TestClient(create_app(fake_overlay), base_url=LOOPBACK)
    asked = {"messages": [{"role": "user", "content": "What is a levain?"}]}
    answer = client.post("/v1/chat/completions", json=asked).json()
    node = answer["overlay"]["citations"][0]["node"]
    assert client.get(f"/v1/nodes/{node}").json()["weights"] == []
    done = client.post("/v1/feedback", json={"trace_id": answer["overlay"]["trace_id"],
                                             "verdict": "good"}).json()
    page = client.get(f"/v1/nodes/{node}").json()
    assert page["weights"][0]["s"] == 1 and page["history"][0]["id"] == done["event"]
    assert client.post("/v1/undo", json={"event_id": done["event"]}).status_code == 200
    assert client.get(f"/v1/nodes/{node}").json()["weights"] == []  # back to no counts
    graph = client.get(f"/v1/nodes/{node}/graph").json()
    assert any(n["id"] == node for n in graph["nodes"]) and graph["edges"]


# -------------------------------------------------------------- concurrency
def test_concurrent_clients_share_one_overlay_safely(fake_overlay: Overlay) -> None:
    errors: list[str] = []
    with live_server(fake_overlay) as url:

        def client(k: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as http:
                for i in range(5):
                    calls = [
                        http.get("/v1/search", params={"q": "starter"}),
                        http.post("/v1/learn", json={"text": f"Fact {k}-{i}: rye likes warmth."}),
                        http.post("/v1/chat/completions", json={"messages": [
                            {"role": "user", "content": f"question {k} {i} about levain"}]}),
                    ]
                    bad = [f"{r.status_code} {r.text[:80]}" for r in calls if r.status_code != 200]
                    errors.extend(bad)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert fake_overlay.stats()["events"] >= 16 * 5 * 2


# --------------------------------------------------------------- schemathesis
def test_openapi_schema_holds_and_nothing_answers_5xx(tmp_path: Path) -> None:
    """Every operation, fuzzed from its own schema under every check schemathesis has: no 5xx,
    every response (status, content type, headers, body) what the schema says, data the schema
    allows accepted and data it refuses refused."""
    from schemathesis.checks import CHECKS

    checks = CHECKS.get_all()  # the full set: positive and negative data, headers, auth
    with (
        make_overlay(tmp_path / "o.db") as ov,
        live_server(ov, ServerConfig(roots=[VAULT.resolve()])) as url,
    ):
        schema = schemathesis.openapi.from_url(url + "/openapi.json")
        failures, tested = [], 0
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(max_examples=12, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def fuzz(case: schemathesis.Case) -> None:
                case.call_and_validate(checks=checks)

            try:
                fuzz()
            except Exception as exc:
                failures.append(f"{operation.label}: {str(exc)[:600]}")
            tested += 1
    assert tested >= 15
    assert failures == []


# --------------------------------------------------------------------- CLI
def test_overlay_serve_end_to_end(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    make_overlay(db).close()
    sock_port = _free_port()
    env = {**os.environ, "OVERLAY_DB": str(db)}
    cmd = [sys.executable, "-c", "from overlay.cli import main; main()", "serve", "--port",
           str(sock_port), "--model", "fake", "--embedder", "hashing", "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        text = ""
        while not text.rstrip().endswith("}"):
            text += proc.stdout.readline()  # type: ignore[union-attr]
        started = json.loads(text)
        assert started["url"] == f"http://127.0.0.1:{sock_port}/"
        _wait(started["url"] + "health")
        assert httpx.get(started["url"] + "v1/models").json()["data"][0]["id"] == "overlay"
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in stderr
    refused = subprocess.run([*cmd[:3], "serve", "--host", "0.0.0.0"], env=env,
                             capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "without --token" in refused.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")
