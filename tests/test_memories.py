"""Conversations as memories: chat exports read as sessions of dated turns (transcripts,
ChatGPT's conversations.json, LoCoMo's JSON, the callout exports), searched and asked by
speaker and date, and the time a question names read against the conversations' dates."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlay import ConfigError, Overlay, Settings
from overlay.dates import when_of
from overlay.evaluate.memory import evaluate, scores
from overlay.graph import EdgeKind, Node
from overlay.retrieve.when import resolve
from tests.conftest import open_overlay

ROOT = Path(__file__).resolve().parents[1]
MEMORIES = ROOT / "examples" / "memories"

LOCOMO = [{
    "sample_id": "tiny-1",
    "conversation": {
        "speaker_a": "Caroline", "speaker_b": "Melanie",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Caroline", "dia_id": "D1:1", "text": "Hey Mel! How have you been?"},
            {"speaker": "Melanie", "dia_id": "D1:2", "text": "Busy with the kids and work."},
            {"speaker": "Caroline", "dia_id": "D1:3",
             "text": "I went to a support group for adoptive parents yesterday."},
            {"speaker": "Melanie", "dia_id": "D1:4", "text": "Look at this!",
             "blip_caption": "a photo of a painting of a sunrise over a lake"},
        ],
        "session_2_date_time": "10:37 am on 27 June, 2023",
        "session_2": [
            {"speaker": "Melanie", "dia_id": "D2:1", "text": "We went camping at the lake."},
            {"speaker": "Caroline", "dia_id": "D2:2",
             "text": "I started volunteering at the animal shelter on weekends."},
        ],
    },
    "qa": [
        {"question": "When did Caroline go to the support group?", "answer": "7 May 2023",
         "evidence": ["D1:3"], "category": 2},
        {"question": "What did Melanie paint?", "answer": "a sunrise", "evidence": ["D1:4"],
         "category": 4},
        {"question": "Where does Caroline volunteer?", "answer": "animal shelter",
         "evidence": ["D2:2"], "category": 4},
        {"question": "What is Caroline's cat called?", "answer": "none", "category": 5},
    ],
}]


def turns(ov: Overlay) -> list[Node]:
    found = [n for n in ov.store.iter_nodes() if n.meta.get("role") == "turn"]
    return sorted(found, key=lambda n: (n.source_path or "", n.line_start or 0))


@pytest.fixture
def memories(tmp_path: Path) -> Overlay:
    folder = tmp_path / "memories"
    shutil.copytree(MEMORIES, folder)
    ov = Overlay(settings=Settings.make(db=tmp_path / "o.db", retrieve={"embedder": "hashing"},
                                        lm={"model": "fake"}))
    ov.ingest([folder])
    return ov


# ------------------------------------------------------------------ formats
def test_a_transcript_becomes_dated_turns_linked_in_order(memories: Overlay) -> None:
    said = [n for n in turns(memories) if n.source_path and n.source_path.endswith(".txt")]
    assert len(said) == 18  # 5 + 4 + 5 + 4
    first = said[0]
    assert first.meta["speaker"] == "Anna" and first.meta["time"] == "2024-03-14T09:10"
    assert first.meta["turn"] == 1 and first.meta["session"].startswith("Session 1")
    # a line that is no one's continues the turn before it
    melted = next(n for n in said if "croissants were a disaster" in n.text)
    assert melted.text.endswith("the layers melted together.")
    after = {e.dst for e in memories.store.edges_of(first.id) if e.kind is EdgeKind.PRECEDES}
    assert after == {said[1].id}


def test_a_turn_is_embedded_after_the_turn_it_answers(memories: Overlay) -> None:
    from overlay.retrieve.dense import embed_text

    said = [n for n in turns(memories) if n.source_path and n.source_path.endswith(".txt")]
    assert "context" not in said[0].meta  # a session's first turn answers nothing
    reply = said[1]
    assert reply.meta["context"].startswith("Anna: I finally signed the lease")
    text = embed_text(reply.title, reply.text, reply.meta["context"])
    assert text.index("signed the lease") < text.index("Congratulations")
    first_of_two = next(n for n in said if n.meta["session"].startswith("Session 2"))
    assert "context" not in first_of_two.meta  # nor does one in the next session


def test_chatgpt_export_follows_the_branch_the_user_last_saw(tmp_path: Path) -> None:
    data = json.loads((MEMORIES / "conversations.json").read_text(encoding="utf-8"))
    mapping = data[1]["mapping"]
    # a regenerated answer left on another branch is not part of the conversation
    mapping["stale"] = {"id": "stale", "parent": "c2-m1", "children": [], "message": {
        "id": "stale", "author": {"role": "assistant"}, "create_time": 1714770000,
        "content": {"parts": ["An answer the user regenerated."]}}}
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "conversations.json").write_text(json.dumps(data), encoding="utf-8")
    with open_overlay(tmp_path / "o.db") as ov:
        ov.ingest([folder])
        said = turns(ov)
    assert [n.meta["speaker"] for n in said] == ["user", "assistant", "user", "user",
                                                 "assistant"]
    assert not any("regenerated" in n.text for n in said)
    assert said[1].meta["time"] == "2024-04-10T08:01"
    assert said[1].meta["session"] == "Pricing the rye loaf · 10 Apr 2024"


def test_locomo_sessions_take_their_dates_and_turns_keep_their_ids(tmp_path: Path) -> None:
    file = tmp_path / "locomo.json"
    file.write_text(json.dumps(LOCOMO), encoding="utf-8")
    with open_overlay(tmp_path / "o.db") as ov:
        ov.ingest([file])
        said = turns(ov)
    assert len(said) == 6
    assert said[2].meta["anchor"].endswith("/t:D1:3")
    assert said[2].meta["time"] == "2023-05-08T13:56"
    assert said[4].meta["time"] == "2023-06-27T10:37"
    assert "[shares a photo of a painting of a sunrise over a lake]" in said[3].text


def test_the_callout_exports_turns_carry_their_time(overlay: Overlay,
                                                    chat_export: Path) -> None:
    overlay.ingest([chat_export])
    nodes = list(overlay.store.iter_nodes())
    said = [n for n in nodes if n.meta.get("role") == "callout"]
    assert [(n.meta["speaker"], n.meta["time"], n.meta["turn"]) for n in said] == [
        ("user", "2025-07-01T16:20", 1), ("assistant", "2025-07-01T16:21", 2)]
    # what a turn says inherits who said it and when
    text = next(n for n in nodes if "Харкевича и ЭЭГ" in n.text)
    assert text.meta["time"] == "2025-07-01T16:20"
    assert any(e.kind is EdgeKind.PRECEDES for e in overlay.store.edges_of(said[0].id))


def test_what_is_not_a_conversation_stays_a_note_or_is_left_out(
        overlay: Overlay, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "journal.md").write_text(  # one voice under dated headers: a journal
        "## 2024-05-01\nTodo: buy rye flour\nTodo: call the miller\n", encoding="utf-8")
    (folder / "settings.json").write_text('{"theme": "dark"}', encoding="utf-8")
    report = overlay.ingest([folder])
    assert report.added == 1
    assert any("settings.json: skipped, not a conversation export" in w
               for w in report.warnings)
    assert not any(n.meta.get("role") == "turn" for n in overlay.store.iter_nodes())


def test_a_grown_transcript_rewrites_only_its_new_turns(tmp_path: Path) -> None:
    folder = tmp_path / "chats"
    shutil.copytree(MEMORIES, folder)
    with open_overlay(tmp_path / "o.db") as ov:
        ov.ingest([folder])
        before = {n.id: n.hash for n in turns(ov)}
        with (folder / "bakery-chats.txt").open("a", encoding="utf-8") as f:
            f.write("\n## Session 5 — 1 October 2024, 8:00\nBoris: Any news?\n"
                    "Anna: We won the city's bread prize.\n")
        report = ov.ingest([folder])
        after = {n.id: n.hash for n in turns(ov)}
    assert report.updated == 1 and report.nodes_written == 4  # the file, a session, 2 turns
    assert len(after) == len(before) + 2
    assert all(after[i] == h for i, h in before.items())


# -------------------------------------------------------------------- dates
def test_dates_are_read_as_exports_write_them() -> None:
    assert str(when_of("1:56 pm on 8 May, 2023")) == "2023-05-08 13:56:00"
    assert str(when_of("**User** - 03.07.2025 at 6:06")) == "2025-07-03 06:06:00"
    assert str(when_of("## Session 2 — 8 мая 2023")) == "2023-05-08 00:00:00"
    assert str(when_of("2023-05-08T14:00")) == "2023-05-08 14:00:00"
    assert when_of("# Chapter 5") is None and when_of("31.02.2024") is None


@pytest.mark.parametrize(("question", "since", "until"), [
    ("What did I decide last May?", "2023-05-01", "2023-06-01"),
    ("What did we discuss in May?", "2023-05-01", "2023-06-01"),
    ("What happened in 2022?", "2022-01-01", "2023-01-01"),
    ("What did she say on 8 May 2023?", "2023-05-08", "2023-05-09"),
    ("What did we do last week?", "2023-08-07", "2023-08-14"),
    ("What was said three weeks ago?", "2023-07-24", "2023-07-31"),
    ("Что я решил в прошлом году?", "2022-01-01", "2023-01-01"),
    ("О чём мы говорили в мае?", "2023-05-01", "2023-06-01"),
    ("What did I plan before June 2023?", "", "2023-06-01"),
    ("What changed since March?", "2023-03-01", ""),
])
def test_a_named_time_is_read_against_the_conversations_dates(
        question: str, since: str, until: str) -> None:
    found = resolve(question, date(2023, 8, 20))  # a Sunday: the conversations' last day
    assert found is not None and (found.since, found.until) == (since, until)


def test_may_the_verb_names_no_time_and_an_event_dates_a_bound() -> None:
    assert resolve("What may help a starter?", date(2023, 8, 20)) is None
    assert resolve("When did Caroline go to the support group?", date(2023, 8, 20)) is None
    trip = resolve("What changed after the trip?", date(2023, 8, 20),
                   event=lambda text: when_of("2 July 2023") if "trip" in text else None)
    assert trip is not None and (trip.since, trip.until) == ("2023-07-03", "")


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)),
       st.sampled_from(["last May", "in December", "last year", "this month", "last week",
                        "yesterday", "2 months ago", "in March 2021", "5 days ago",
                        "в прошлом месяце", "в январе"]))
def test_every_named_range_is_a_proper_range(anchor: date, said: str) -> None:
    found = resolve(f"What happened {said}?", anchor)
    assert found is not None and found.since < found.until
    assert found.since <= anchor.isoformat() or said == "in March 2021"


# ------------------------------------------------------------------ filters
def test_search_keeps_to_a_speaker_and_to_dates(memories: Overlay) -> None:
    hits = memories.search("croissants", 10, memories.scope("croissants", speaker="anna"))
    assert hits and all(h.speaker == "Anna" for h in hits)
    scope = memories.scope("croissants", since="2024-06", until="2024-09")
    hits = memories.search("croissants", 10, scope)
    assert hits and all(h.time and "2024-06" <= h.time < "2024-10" for h in hits)
    assert scope.within is not None and scope.within.until == "2024-10-01"  # to its end
    with pytest.raises(ConfigError, match="not a date"):
        memories.scope("croissants", since="2024-13")


def test_a_question_that_names_a_time_keeps_to_it(memories: Overlay) -> None:
    scope = memories.scope("What went wrong with the croissants last May?")
    assert scope.said == "last May" and scope.within is not None
    assert (scope.within.since, scope.within.until) == ("2024-05-01", "2024-06-01")
    hits = memories.search("What went wrong with the croissants last May?", 5)
    assert hits and all(h.time and h.time.startswith("2024-05") for h in hits)
    # a named time that holds no memory narrows nothing
    assert memories.scope("What did we say about rye in 2019?").within is None


def test_an_ask_within_a_scope_records_it(memories: Overlay) -> None:
    scope = memories.scope("Who did Anna hire as a second baker?", speaker="Anna")
    trace = memories.ask("Who did Anna hire as a second baker?", scope=scope)
    assert trace.settings["within"] == {"speaker": "Anna"}
    assert all(c.node_id is None or memories.store.get_node(c.node_id).meta.get("speaker")
               == "Anna" for c in trace.candidates)
    cited = memories.citations(trace)
    assert cited and cited[0]["speaker"] == "Anna" and cited[0]["time"] == "2024-06-20T07:30"
    assert cited[0]["session"].startswith("Session 3")
    assert "Chen" in trace.answer


# ---------------------------------------------------------------- benchmark
def test_scores_of_a_ranking() -> None:
    found = scores(["D1:2", "D1:3", "D2:1"], {"D1:3", "D9:9"})
    assert found["recall@5"] == 0.5 and found["recall@10"] == 0.5
    assert 0 < found["ndcg@10"] < 1


def test_the_memory_benchmark_ranks_evidence_turns(tmp_path: Path) -> None:
    with open_overlay(tmp_path / "o.db") as ov:
        result = evaluate(ov, LOCOMO)
        assert not list(ov.store.iter_nodes())  # the user's store is never touched
    assert result["questions"] == 3 and result["turns"] == 6  # the one without evidence: out
    assert set(result["by_category"]) == {"temporal", "single-hop"}
    for arm in ("lexical", "dense", "hybrid", "ask"):
        assert 0 <= result["all"][arm]["turn"]["recall@10"] <= 1
    assert result["all"]["hybrid"]["session"]["recall@10"] == 1.0  # two sessions: both in
    assert result["all"]["lexical"]["turn"]["recall@5"] == 1.0


# ---------------------------------------------------------------------- API
def test_the_api_filters_searches_and_asks_and_cites_turns(memories: Overlay) -> None:
    from fastapi.testclient import TestClient

    from overlay.server import create_app

    client = TestClient(create_app(memories), base_url="http://127.0.0.1")
    hits = client.get("/v1/search", params={"q": "croissants", "speaker": "boris"}).json()
    assert hits and {h["speaker"] for h in hits} == {"Boris"}
    hits = client.get("/v1/search", params={"q": "croissants", "since": "2024-06"}).json()
    assert hits and all(h["time"] >= "2024-06" for h in hits)
    bad = client.get("/v1/search", params={"q": "croissants", "since": "someday"})
    assert bad.status_code == 400 and "not a date" in bad.json()["error"]["message"]
    asked = client.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "Who did Anna hire as a second baker?"}],
        "overlay": {"speaker": "Anna", "until": "2024-06"}}).json()
    cited = asked["overlay"]["citations"]
    assert cited and cited[0]["speaker"] == "Anna" and cited[0]["time"] == "2024-06-20T07:30"
    assert cited[0]["session"].startswith("Session 3")


def test_turns_learn_as_notes_do(memories: Overlay) -> None:
    """A verdict counts on the turns an answer cited, a correction is learned beside them,
    and the learned statement acts where a question is about what it is about."""
    trace = memories.ask("Who did Anna hire as a second baker?")
    turn = trace.cited[0]
    assert memories.store.get_node(turn).meta["speaker"] == "Anna"  # type: ignore[union-attr]
    memories.feedback(trace.id, "good")
    assert memories.weights(turn)[0]["s"] == 1
    memories.learn("Chen, the second baker, left the bakery in October 2024.", links=[turn])
    later = memories.ask("Does Chen still work as the second baker?")
    assert "left the bakery" in later.answer
    assert "left the bakery" not in memories.ask("What went wrong with the croissants?").answer
