"""Learning without weights: learn, feedback, undo, revert, merge, insights — exact and
reversible; and the loop a user sees: a wrong answer, corrected, answered right next time."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlay import ConfigError, NotFoundError, Overlay, Settings
from overlay.learning import preferences
from overlay.lm.hf import HFModel
from overlay.retrieve.embed import SentenceTransformerEmbedder
from overlay.trace import Candidate, Trace
from overlay.weights import information, term_weight

from .conftest import VAULT


def fake(db: Path) -> Overlay:
    return Overlay(
        settings=Settings.make(db=db, retrieve={"embedder": "hashing"}, lm={"model": "fake"})
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vault ingested once (hashing embedder); tests copy the file."""
    db = tmp_path_factory.mktemp("tpl") / "o.db"
    with fake(db) as ov:
        ov.ingest([VAULT])
    return db


def copy_of(template: Path, tmp_path: Path, name: str = "o.db") -> Overlay:
    target = tmp_path / name
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(template) + suffix)
        if src.exists():
            shutil.copy(src, str(target) + suffix)
    return fake(target)


def test_information_has_the_papers_properties() -> None:
    assert information(0, 0, 0, 0) == 0.0
    assert information(5, 0, 5, 5) > 0 > information(0, 5, 5, 5)
    assert information(1, 0, 1, 0) == 0.0  # one good verdict citing a node: no information


@given(st.integers(1, 50), st.integers(0, 50), st.integers(0, 50), st.data())
def test_information_signs_follow_the_episodes(
    good: int, bad: int, learned: int, data: st.DataObject
) -> None:
    """Episodes: `good` verdicts and `bad` ones. A node cited in k of the good ones only, or
    in k of the bad ones only, against the goal's base rate."""
    k = data.draw(st.integers(1, good))
    assert information(k, 0, good, 0) == 0.0  # an all-good world: nothing to tell apart
    if bad:
        assert information(k, 0, good, bad) > 0  # cited only where the goal was reached
        kb = data.draw(st.integers(1, bad))
        assert information(0, kb, good, bad) < 0  # cited only where it was not
        assert information(0, kb, 0, bad) == 0.0  # an all-bad world
    assert information(learned, 0, 0, 0) >= 0  # learned statements toward a new goal


def test_one_good_verdict_gives_no_negative_bits(template: Path, tmp_path: Path) -> None:
    """The server note's case: one good verdict on a trace that cites two nodes gave them
    -0.17 bits each when the base rate counted citations; with episodes it is 0, and a node
    that helped while another answer failed is positive."""
    with copy_of(template, tmp_path) as ov:
        good = ov.ask("How do I feed a starter?")
        ov.feedback(good.id, "good")
        cited = good.cited or [c.node_id for c in good.chosen if c.node_id]
        assert len(cited) >= 1
        assert all(w["bits"] == 0.0 for n in cited for w in ov.weights(n))
        bad = ov.ask("What is hooch?")
        ov.feedback(bad.id, "bad")
        blamed = set(bad.cited or [c.node_id for c in bad.chosen if c.node_id])
        only_good = [n for n in cited if n not in blamed]
        assert only_good, "the two answers cited the same notes"
        helped = next(w for w in ov.weights(only_good[0]) if w["goal"] == "answer")
        assert helped["p0"] == 0.5 and helped["p1"] > 0.5 and helped["bits"] > 0
        hurt = next(w for w in ov.weights(sorted(blamed - set(cited))[0]) if w["goal"] == "answer")
        assert hurt["bits"] < 0
        assert ov.store.goal_totals("answer") == (1, 1)


def test_learn_is_searchable_at_once_and_undo_removes_it(template: Path, tmp_path: Path) -> None:
    with copy_of(template, tmp_path) as ov:
        before = ov.stats()["nodes"]
        done = ov.learn(
            "Rye levain ferments faster than wheat levain.",
            goal="answer",
            links=[ov.search("Rye bread", 1)[0].node_id],
            source="my notebook",
        )
        assert done["id"] in [h.node_id for h in ov.search("rye levain ferments faster", 3)]
        node = ov.node(done["id"])
        assert node.meta["learned"] and node.meta["source"] == "my notebook"
        assert ov.store.counts([done["id"]], "answer") == {done["id"]: (1, 0)}
        ov.undo(done["event"])
        assert ov.stats()["nodes"] == before
        assert all(h.node_id != done["id"] for h in ov.search("rye levain ferments faster", 5))
        with pytest.raises(ConfigError, match="already undone"):
            ov.undo(done["event"])


def test_feedback_moves_counts_once_and_undo_is_exact(template: Path, tmp_path: Path) -> None:
    with copy_of(template, tmp_path) as ov:
        trace = ov.ask("how do I feed a sourdough starter")
        counts0 = ov.store.all_counts()
        fb = ov.feedback(trace.id, "good")
        # a statement answer is judged by the statement it leads with
        assert len(trace.cited) >= 2 and fb["counted"] == trace.cited[:1]
        lead, *rest = trace.cited
        assert ov.store.counts([lead], "answer")[lead] == (1, 0)
        assert ov.store.counts(rest, "answer") == {}
        # and per judged question, with that question's vector for `overlay.evidence`
        assert ov.store.all_judged() == {(lead, "answer", trace.question): (1, 0)}
        assert ov.store.question_vectors([trace.question], "hashing-256")
        with pytest.raises(ConfigError, match="already has feedback"):
            ov.feedback(trace.id, "bad")
        ov.undo(fb["event"])
        assert ov.store.all_counts() == counts0 and ov.store.all_judged() == {}
        ov.feedback(trace.id, "bad")  # allowed again once the first is undone
        with pytest.raises(NotFoundError):
            ov.feedback("no-such-trace", "good")
        with pytest.raises(ConfigError, match="verdict"):
            ov.feedback(ov.ask("float test").id, "meh")


def test_feedback_on_deleted_nodes_is_a_clear_error(vault: Path, tmp_path: Path) -> None:
    with fake(tmp_path / "o.db") as ov:
        ov.ingest([vault])
        trace = ov.ask("what is hooch")
        for path in vault.glob("*.md"):
            path.unlink()
        ov.ingest([vault])
        with pytest.raises(NotFoundError, match="no node that still exists"):
            ov.feedback(trace.id, "bad")
        fixed = ov.feedback(trace.id, "bad", correct="Hooch is alcohol from a hungry starter.")
        assert fixed["skipped_deleted"] and fixed["correction"]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from(["good", "bad", "learn"]), st.integers(0, 5)),
        min_size=1,
        max_size=8,
    ),
    st.randoms(),
)
def test_any_events_undone_in_any_order_restore_counts(
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    steps: list[tuple[str, int]],
    rnd: random.Random,
) -> None:
    with copy_of(template, tmp_path_factory.mktemp("prop")) as ov:
        questions = [
            "feed a starter",
            "float test",
            "bulk fermentation",
            "hooch",
            "crumb",
            "shaping",
        ]
        before_counts, before_nodes = ov.store.all_counts(), ov.stats()["nodes"]
        before_episodes = ov.store.all_episodes()
        before_terms = ov.store.all_term_counts()
        before_pairs = ov.store.all_pair_counts()
        before_judged = ov.store.all_judged()
        events = []
        for what, i in steps:
            if what == "learn":
                events.append(ov.learn(f"Fact number {i} about {questions[i]}.", goal="g")["event"])
            else:
                trace = ov.ask(questions[i])
                events.append(ov.feedback(trace.id, what, goal="g")["event"])
        rnd.shuffle(events)
        for event in events:
            ov.undo(event)
        assert ov.store.all_counts() == before_counts
        assert ov.store.all_episodes() == before_episodes
        assert ov.store.all_term_counts() == before_terms
        assert ov.store.all_pair_counts() == before_pairs
        assert ov.store.all_judged() == before_judged
        assert ov.stats()["nodes"] == before_nodes


def test_revert_and_history(template: Path, tmp_path: Path) -> None:
    with copy_of(template, tmp_path) as ov:
        mark = ov.history(1)[0]["id"]
        counts0 = ov.store.all_counts()
        a = ov.learn("Salt slows fermentation.")
        ov.feedback(ov.ask("salt fermentation").id, "good")
        rows = ov.history(10)
        assert rows[0]["kind"] == "feedback" and rows[0]["undoable"]
        result = ov.revert(mark)
        assert a["event"] in result["undid"]
        assert ov.store.all_counts() == counts0
        with pytest.raises(NotFoundError):
            ov.node(a["id"])
        assert ov.history(1)[0]["kind"] == "revert"
        undo_of_revert = ov.undo(ov.history(1)[0]["id"])
        assert undo_of_revert["kind"] == "revert" and ov.node(a["id"])
        with pytest.raises(ConfigError, match="cannot be undone"):
            ov.undo(1)  # an ingest


def _state(ov: Overlay) -> tuple[dict, set, dict, dict, dict, dict]:
    learned = {n.text for n in ov.store.iter_nodes() if n.meta.get("learned")}
    return (ov.store.all_counts(), learned, ov.store.all_episodes(), ov.store.all_term_counts(),
            ov.store.all_pair_counts(), ov.store.all_judged())


def test_merge_is_commutative_associative_and_idempotent(template: Path, tmp_path: Path) -> None:
    def member(name: str, fact: str, verdict: str) -> Path:
        with copy_of(template, tmp_path, name) as ov:
            ov.learn(fact, goal="answer")
            ov.feedback(ov.ask("feed a starter").id, verdict)
        return tmp_path / name

    a, b, c = (
        member("a.db", "Fact A.", "good"),
        member("b.db", "Fact B.", "bad"),
        member("c.db", "Fact C.", "good"),
    )
    results = []
    for i, order in enumerate(([a, b, c], [c, a, b], [b, c, a])):
        with copy_of(template, tmp_path, f"t{i}.db") as ov:
            for other in order:
                ov.merge(other)
            assert ov.merge(order[0])["imported"] == 0  # idempotent
            results.append(_state(ov))
    assert results[0] == results[1] == results[2]
    assert results[0][1] == {"Fact A.", "Fact B.", "Fact C."}
    # associativity: b and c merged first, then that into a fresh one after a
    with copy_of(template, tmp_path, "bc.db") as bc:
        bc.merge(b)
        bc.merge(c)
    with copy_of(template, tmp_path, "abc.db") as ov:
        ov.merge(a)
        ov.merge(tmp_path / "bc.db")
        ov.merge(c)  # already in through bc: nothing counted twice
        assert _state(ov) == results[0]
        with pytest.raises(ConfigError, match="itself"):
            ov.merge(tmp_path / "abc.db")


def test_insights_from_repeated_coactivation(template: Path, tmp_path: Path) -> None:
    with copy_of(template, tmp_path) as ov:
        for q in ("starter flour water", "feed the starter flour", "starter water feeding"):
            ov.ask(q)
        found = ov.insights(min_asks=2)
        assert found, "three related asks should co-activate some unlinked pair"
        first = found[0]
        assert first["asks"] >= 2 and first["a"] < first["b"]
        accepted = ov.decide_insight(first["id"][:10], accept=True)
        assert first["id"] not in {i["id"] for i in ov.insights(min_asks=2)}
        assert any(e.kind.value == "analogy" for e in ov.store.edges_of(first["a"]))
        ov.undo(accepted["event"])
        assert first["id"] in {i["id"] for i in ov.insights(min_asks=2)}
        if len(found) > 1:
            ov.decide_insight(found[1]["id"], accept=False)
            assert found[1]["id"] not in {i["id"] for i in ov.insights(min_asks=2)}


def test_the_loop_a_user_sees(
    tmp_path: Path, minilm: SentenceTransformerEmbedder, smol: HFModel
) -> None:
    """Ask → wrong answer → bad + correction → ask again → the correction, cited; an
    unrelated question's answer does not move."""
    ov = Overlay(settings=Settings.make(db=tmp_path / "o.db"), embedder=minilm, lm=smol)
    ov.ingest([VAULT])
    question = "How warm should the kitchen be for a starter?"
    other = "What does the windowpane test show?"
    unrelated_before = ov.ask(other).cited
    first = ov.ask(question)
    correction = "Keep a starter at 24 to 26 °C; below 20 °C it barely rises."
    fb = ov.feedback(first.id, "bad", correct=correction)
    second = ov.ask(question)
    assert second.cited[0] == fb["correction"]
    assert correction in second.answer
    assert ov.ask(other).cited == unrelated_before


def _cite(ov: Overlay, node_ids: list[str]) -> str:
    """A stored trace citing these nodes, as an ask would leave (no model needed)."""
    from overlay.graph import new_id
    from overlay.trace import Span, Trace

    trace = Trace(
        new_id(),
        "ask",
        "q",
        "answer",
        "statement",
        "test",
        "x",
        spans=[Span(0, 1, "x", [n]) for n in node_ids],
    )
    return ov.record(trace).id


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.lists(
            st.tuples(st.sampled_from(["good", "bad", "learn"]), st.integers(0, 9)), max_size=4
        ),
        min_size=3,
        max_size=3,
    ),
    st.permutations([0, 1, 2]),
)
def test_merge_commutes_and_associates_for_any_changes(
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    plans: list[list[tuple[str, int]]],
    order: list[int],
) -> None:
    tmp = tmp_path_factory.mktemp("merge")
    members = []
    for m, plan in enumerate(plans):
        with copy_of(template, tmp, f"m{m}.db") as ov:
            ids = sorted(n.id for n in ov.store.iter_nodes())[:10]
            for what, i in plan:
                if what == "learn":
                    ov.learn(f"Member {m} fact {i}.", goal="g")
                else:
                    ov.feedback(_cite(ov, [ids[i]]), what, goal="g")
        members.append(tmp / f"m{m}.db")
    with copy_of(template, tmp, "straight.db") as ov:
        for m in members:
            ov.merge(m)
        straight = _state(ov)
    with copy_of(template, tmp, "pair.db") as pair:  # (b + c) first: associativity
        pair.merge(members[order[1]])
        pair.merge(members[order[2]])
    with copy_of(template, tmp, "shuffled.db") as ov:
        ov.merge(members[order[0]])
        ov.merge(tmp / "pair.db")
        assert _state(ov) == straight


def _candidate(node: str, rank: int, **terms: float) -> Candidate:
    c = Candidate(node, f"text of {node}", node, dict(terms), 0.0)
    c.rank, c.chosen = rank, rank == 1
    return c


def test_each_term_preferred_the_answer_or_another_candidate_or_nothing() -> None:
    trace = Trace("t", "ask", "q", "answer", "statement", "m")
    trace.candidates = [
        _candidate("a", 1, lm=-1.0, retrieval=0.4, information=0.0, activation=0.5),
        _candidate("b", 2, lm=-2.0, retrieval=1.0, information=0.0, activation=0.5),
    ]
    # the LM ranked the answer first; retrieval preferred b; information and activation were
    # the same for both, so they preferred nothing
    assert preferences(trace) == {"lm": True, "retrieval": False}
    trace.kind = "choose"
    assert preferences(trace) == {}


@given(st.floats(0.01, 10), st.integers(0, 40), st.integers(0, 40), st.integers(1, 40),
       st.integers(1, 40))
def test_a_term_weight_moves_with_its_evidence(prior: float, s: int, f: int, good: int,
                                               bad: int) -> None:
    assert term_weight(prior, 0, 0, good, bad) == prior  # no evidence keeps the prior
    w = term_weight(prior, s, f, good, bad)
    assert prior / 4 - 1e-9 <= w <= prior * 4 + 1e-9  # clamped at ±2 bits
    if s and not f:
        assert w > prior  # it led only to good answers while others went bad
    if f and not s:
        assert w < prior


def test_verdicts_teach_the_term_weights_and_undo_takes_them_back(
    template: Path, tmp_path: Path
) -> None:
    """A term is judged by its own pick: the answer's verdict where it ranked the answer
    first, the opposite where it preferred another candidate."""
    with copy_of(template, tmp_path) as ov:
        assert ov.term_weights() == []
        prior = {r["term"]: r["weight"] for r in ov.term_weights("answer")}
        trace = ov.ask("How do I feed a starter?")
        prefs = preferences(trace)
        assert prefs and trace.settings["term_weights"]["lm"] == prior["lm"]
        event = ov.feedback(trace.id, "good")["event"]
        counts = {t: sf for (_g, t), sf in ov.store.all_term_counts().items()}
        assert counts == {t: ((1, 0) if led else (0, 1)) for t, led in prefs.items()}
        other = ov.ask("What is hooch?")
        ov.feedback(other.id, "bad")
        rows = {r["term"]: r for r in ov.term_weights("answer")}
        for term, led in prefs.items():
            # a term whose own picks were good both times (it led to the good answer and
            # preferred another candidate over the bad one) gains weight
            if led and preferences(other).get(term) is False:
                assert rows[term]["bits"] > 0
                assert rows[term]["weight"] > rows[term]["prior"]
        assert ov.ask("What is a levain?").settings["term_weights"]["lm"] == rows["lm"]["weight"]
        ov.undo(event)
        assert all(r["picks_good"] + r["picks_bad"] <= 1 for r in ov.term_weights("answer"))
