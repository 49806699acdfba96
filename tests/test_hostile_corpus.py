"""The hostile corpus (`tests/hostile/`): every reproduction of the real-size probe that used to
abort an ingest or crash a question. One bad file is one warning, one bad conversation costs
only itself, the good files beside them are ingested, and no question or date is "unexpected".
Hypothesis then throws arbitrary structure and values at every reader."""

from __future__ import annotations

import contextlib
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlay import Overlay, Settings
from overlay.config import ServerConfig
from overlay.dates import when_of
from overlay.errors import ConfigError, IngestError, StoreError
from overlay.ingest import chatgpt, conversations
from overlay.ingest.markdown import parse_note
from overlay.memories import bound
from overlay.retrieve.when import resolve
from overlay.server.app import create_app, host_of

HOSTILE = Path(__file__).parent / "hostile"
ANCHOR = date(2023, 8, 20)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("hostile")
    vault = root / "vault"
    shutil.copytree(HOSTILE, vault)
    ov = Overlay(settings=Settings.make(db=root / "o.db", retrieve={"embedder": "hashing"},
                                        lm={"model": "fake"}))
    report = ov.ingest([vault])
    yield ov, report
    ov.close()


def test_every_hostile_file_costs_warnings_and_the_good_ones_go_in(ingested: Any) -> None:
    ov, report = ingested
    assert report.files == len(list(HOSTILE.iterdir()))
    assert "Good note" in ov.search("levain floats in water", 3)[0].title
    joined = "\n".join(report.warnings)
    assert "deep-brackets.json" in joined and "nested-callouts.md" in joined
    assert "many-blocks.md" in joined and "ingest.max_blocks" in joined
    assert "conversation 2 " not in joined  # a message given as text: that message only
    assert all("\n" not in w for w in report.warnings)


def test_a_bad_conversation_costs_only_itself(ingested: Any) -> None:
    ov, _ = ingested
    texts = " ".join(h.snippet for h in ov.search("hello number", 40))
    for i in (0, 5, 6, 7, 21):  # times out of the calendar are dropped, not the turns
        assert f"hello number {i}" in texts, i
    assert ov.search("rye bread rose", 3)  # LoCoMo: the one good session of five


def test_broken_off_json_keeps_what_came_before(tmp_path: Path) -> None:
    raw = (HOSTILE / "broken-off.json").read_bytes()
    sessions, warnings = chatgpt.read(raw, "b.json", 100)
    assert [s.title.split(" · ")[0] for s in sessions] == ["Chat 30"]
    assert len(warnings) == 1 and "breaks off after conversation 1" in warnings[0]


@pytest.mark.parametrize("question", [
    "what happened 5000 years ago", "99999999999 days ago", "on 9999-12-31",
    "in December 9999", "in May 0000", "x " + "9" * 5000 + " days ago", "before " * 20_000 + "x",
    "8 ſeptember 2023", "8 Aprıl 2023", "в мае 0000 года", "since 2023-02-30"])
def test_a_question_out_of_the_calendar_names_no_time(question: str) -> None:
    found = resolve(question, ANCHOR)
    assert found is None or (found.since < "9999" and found.until < "9999-12-31")
    assert resolve("what happened in December", date(9999, 12, 31)) is None


@pytest.mark.parametrize("value", ["9999", "9999-12", "0000", "2023-02-30", "1" * 5000])
def test_a_filter_out_of_the_calendar_is_one_error(value: str) -> None:
    with pytest.raises(ConfigError):
        bound(value, ANCHOR)


def test_the_server_refuses_what_is_not_text_or_not_a_host(tmp_path: Path) -> None:
    ov = Overlay(settings=Settings.make(db=tmp_path / "o.db", retrieve={"embedder": "hashing"},
                                        lm={"model": "fake"}))
    client = TestClient(create_app(ov, ServerConfig()), base_url="http://127.0.0.1")
    chat = {"messages": [{"role": "user", "content": "\ud800 hello"}]}
    answer = client.post("/v1/chat/completions", content=json.dumps(chat),
                         headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    huge = {"messages": [{"role": "user", "content": "before " * 140_000 + "\nx"}]}
    assert client.post("/v1/chat/completions", json=huge).status_code in (413, 422)
    assert client.get("/v1/search", params={"q": "in December 9999"}).status_code == 200
    assert client.get("/v1/search", params={"q": "x", "since": "9999"}).status_code == 400
    assert client.get("/health", headers={"host": "localhost:80@evil.com"}).status_code == 400
    assert client.get("/health").status_code == 200
    ov.close()


@pytest.mark.parametrize(("header", "host"), [
    ("localhost:8765", "localhost"), ("[::1]:80", "::1"), ("LOCALHOST", "localhost"),
    ("localhost:80@evil.com", ""), ("a b", ""), ("evil.com:80:80", "")])
def test_host_headers(header: str, host: str) -> None:
    assert host_of(header) == host


# ------------------------------------------------------------------ fuzz
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**40, 10**40) | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.sampled_from(["mapping", "message", "content", "parts", "author",
                                       "role", "create_time", "current_node", "parent", "title",
                                       "id", "a", "b", "conversation", "session_1", "text",
                                       "speaker", "session_1_date_time"]), inner, max_size=6),
    max_leaves=40)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(JSON, max_size=6))
def test_chatgpt_reader_warns_or_reads_never_raises(items: list[Any]) -> None:
    raw = json.dumps(items).encode()
    sessions, warnings = chatgpt.read(raw, "c.json", 50)
    assert all(isinstance(w, str) and "\n" not in w for w in warnings)
    assert all(len(s.turns) <= 50 for s in sessions)


@FUZZ
@given(JSON)
def test_locomo_and_transcript_readers_never_raise(value: Any) -> None:
    conversations.read(json.dumps(value), "l.json", "l")
    conversations.read(json.dumps(value, indent=1).replace('"', ""), "l.md", "l")


@FUZZ
@given(st.lists(st.sampled_from(["before ", "in ", "May ", "мая ", "9999", "0000", "-12-31 ",
                                 "days ago ", "99999999 ", "last ", "year ", "ſeptember ",
                                 "Aprıl ", "2023", "-02-30", ", ", "yesterday", "назад "]),
                max_size=12).map("".join) | st.text(max_size=60))
def test_dates_in_any_text_are_a_range_or_none(text: str) -> None:
    found = resolve(text, ANCHOR)
    assert found is None or isinstance(found.since, str)
    when_of(text)
    with contextlib.suppress(ConfigError):
        bound(text, ANCHOR)


@FUZZ
@given(st.lists(st.sampled_from(["> ", "[!note] ", "# ", "- ", "[[", "]]", "#tag ", "\n",
                                 "\n\n", "```", "<!-- UID: x -->", "^id", "---\n", "a "]),
                max_size=40).map("".join))
def test_markdown_reader_reads_or_says_where(text: str) -> None:
    try:
        parse_note(text, "m.md", "m", max_blocks=20)
    except IngestError as exc:  # the one error a note can give: its file and line
        assert str(exc).startswith("m.md:")


def test_a_full_disk_is_named_and_nothing_half_written(tmp_path: Path) -> None:
    """SQLite ends the transaction itself when the disk fills; the error says the disk is
    full (not "cannot rollback"), and the notes written before are all there."""
    ov = Overlay(settings=Settings.make(db=tmp_path / "o.db", retrieve={"embedder": "hashing"},
                                        lm={"model": "fake"}))
    first = tmp_path / "first"
    first.mkdir()
    (first / "a.md").write_text("# A\n\nA levain floats when it is ready.\n")
    ov.ingest([first])
    before = ov.stats()["nodes"]
    pages = ov.store.db.execute("PRAGMA page_count").fetchone()[0]
    ov.store.db.execute(f"PRAGMA max_page_count = {pages + 2}")  # a disk with two pages left
    big = tmp_path / "big"
    big.mkdir()
    (big / "b.md").write_text("# B\n\n" + "".join(f"Line {i} of a long note.\n\n"
                                                   for i in range(3000)))
    with pytest.raises(StoreError, match="full"):
        ov.ingest([big])
    assert ov.stats()["nodes"] == before
    ov.close()


def test_the_second_of_two_ingests_at_once_reports_what_it_did(tmp_path: Path) -> None:
    """Ingests of one store take turns, embedding included: the second finds every file
    unchanged and every node embedded, and says it wrote and embedded nothing."""
    import threading

    vault = tmp_path / "v"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "vault", vault)
    settings = Settings.make(db=tmp_path / "o.db", retrieve={"embedder": "hashing"},
                             lm={"model": "fake"})
    Overlay(settings=settings).close()
    reports: list[Any] = []

    def ingest() -> None:
        with Overlay(settings=settings, create=False) as ov:
            reports.append(ov.ingest([vault]))

    threads = [threading.Thread(target=ingest) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first, second = sorted(reports, key=lambda r: -r.added)
    assert first.added > 0 and first.embedded > 0
    assert second.added == 0 and second.nodes_written == 0 and second.embedded == 0


@pytest.mark.parametrize("secret", ["S3cret%PW", "p@ss:w%rd", "a:b@c%41"])
def test_no_error_shows_a_password(secret: str) -> None:
    """A URL's password, written with %, @ and :, in no message: a driver's error that quotes
    it, the address shown, the CLI's one line."""
    import subprocess
    import sys

    from overlay.store.postgres.connection import redact, shown

    url = f"postgresql://postgres:{secret}@/ov1?host=/nowhere"
    assert secret not in shown(url) and "%" not in shown(url).split("@")[0]
    assert secret not in redact(f'invalid percent-encoded token: "{secret}"', url)
    done = subprocess.run([sys.executable, "-c", "from overlay.cli import main; main()",
                           "stats", "--db", url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    told = done.stderr.split("postgres@", 1)[-1]  # what follows the user's name
    assert not any(len(piece) > 1 and piece in told
                   for piece in secret.replace("@", " ").replace(":", " ").split()), told
