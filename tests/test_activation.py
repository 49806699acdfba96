"""Goal-driven activation and insights that carry bits: edges weighted by kind and by their
target's information toward the goal, the goal's informative nodes as a second source, the
path of every activated node, and an accepted insight that changes a later ask."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from overlay import Overlay
from overlay.graph import Edge, EdgeKind, Node, NodeKind
from overlay.retrieve.activation import GOAL_LEVEL, boost, goal_seeds, spread
from overlay.store import SQLiteStore
from overlay.trace import Trace, render

from .conftest import VAULT
from .test_learning import copy_of, fake

GOOD = ["feed the starter flour", "starter water feeding", "how often do I feed my starter"]
BAD = ["how long does bulk fermentation take", "what is hooch"]
LATER = ["what is a starter", "signs of a healthy starter", "wild yeast", "sourdough",
         "how do I store a starter", "what flour should I use"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("act") / "o.db"
    with fake(db) as ov:
        ov.ingest([VAULT])
    return db


@pytest.fixture
def ov(template: Path, tmp_path: Path) -> Overlay:
    return copy_of(template, tmp_path)


def _judge(ov: Overlay, good: list[str], bad: list[str], goal: str = "bake") -> None:
    for questions, verdict in ((good, "good"), (bad, "bad")):
        for q in questions:
            ov.feedback(ov.ask(q, goal=goal).id, verdict)


def test_information_scales_a_hop_both_ways() -> None:
    assert boost(0.0) == 1.0
    assert 1.0 < boost(1.0) < boost(3.0) < 2.0
    assert 0.0 < boost(-3.0) < boost(-1.0) < 1.0


def test_hops_weigh_the_edge_kind_and_keep_their_path(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    with store.change("test"):
        store.put_nodes([Node(i, NodeKind.FACT, i, f"text {i}") for i in "sabcd"])
        store.add_edges([Edge("s", EdgeKind.SUPPORTS, "a"), Edge("s", EdgeKind.CONTRADICTS, "b"),
                         Edge("a", EdgeKind.LINKS_TO, "c"), Edge("d", EdgeKind.PART_OF, "c")])
    got = spread(store, {"s": 1.0}, decay=0.5, hops=3)
    assert got["s"].level == 1.0 and got["s"].path == ("s",)
    assert got["a"].level == pytest.approx(0.5)  # supports passes all of it
    assert got["b"].level == pytest.approx(0.25)  # contradicts half
    assert got["c"].level == pytest.approx(0.25) and got["c"].path == ("s", "a", "c")
    assert got["d"].path == ("s", "a", "c", "d")  # part_of: 0.8 of the decayed level
    assert got["d"].level == pytest.approx(0.25 * 0.5 * 0.8)
    store.close()


def test_the_goals_informative_nodes_drive_activation(ov: Overlay) -> None:
    _judge(ov, GOOD, BAD)
    seeds = goal_seeds(ov.store, "bake", 4)
    assert seeds and all(0 < level <= GOAL_LEVEL for level in seeds.values())
    hits = {h.node_id: h.score for h in ov.search("wild yeast", 8)}
    plain = spread(ov.store, hits)
    driven = spread(ov.store, hits, goal="bake", goal_nodes=4)
    assert set(driven) == set(plain), "the goal reaches nothing the question does not"
    assert all(driven[n].level >= plain[n].level for n in plain)
    raised = [n for n in plain if driven[n].level > plain[n].level]
    assert raised, "the goal's informative nodes add activation where the question reaches"
    assert all(driven[n].path[0] in seeds or driven[n].path[0] in hits for n in raised)
    assert any(driven[n].path[0] in seeds for n in raised)
    assert not goal_seeds(ov.store, "never-judged", 4)


def test_insights_carry_the_bits_their_coactivation_earned(ov: Overlay) -> None:
    _judge(ov, GOOD, BAD)
    found = ov.insights(min_asks=2)
    assert found and found[0]["bits"] > 0 and found[0]["goal"] == "bake"
    assert [i["bits"] for i in found] == sorted((i["bits"] for i in found), reverse=True)
    assert found[0]["verdicts"] >= 2


def test_pairs_that_lit_up_where_answers_failed_are_not_proposed(ov: Overlay) -> None:
    for q in GOOD:  # co-activated, not yet judged: proposed, expecting 0 bits
        ov.ask(q, goal="bake")
    unjudged = {i["id"] for i in ov.insights(min_asks=2)}
    assert unjudged
    _judge(ov, BAD, GOOD)  # the starter questions now fail
    left = {i["id"]: i for i in ov.insights(min_asks=2)}
    assert all(i["bits"] >= 0 for i in left.values())
    assert unjudged - set(left), "pairs co-activated where answers failed carry negative bits"


def _rank(trace: Trace, node_id: str) -> int | None:
    order = sorted(trace.candidates, key=lambda c: -c.score)
    return next((k + 1 for k, c in enumerate(order) if c.node_id == node_id), None)


def test_an_accepted_insight_lifts_its_partner_in_a_later_ask(ov: Overlay) -> None:
    _judge(ov, GOOD, BAD)
    top = ov.insights(min_asks=2)[0]
    before = {q: ov.ask(q, goal="bake") for q in LATER}
    accepted = ov.decide_insight(top["id"], accept=True)
    after = {q: ov.ask(q, goal="bake") for q in LATER}

    def place(t: Trace) -> float:
        r = _rank(t, top["b"])
        return float("inf") if r is None else r

    assert all(place(after[q]) <= place(before[q]) for q in LATER), "nothing moves down"
    lifted = [q for q in LATER if place(after[q]) < place(before[q])]
    assert lifted, "the accepted link lifts its partner in some later ask"
    reached = next(c for c in after[lifted[0]].candidates if c.node_id == top["b"])
    assert top["a"] in reached.via, "the trace shows the path through the accepted link"
    console = Console(width=200, record=True)
    console.print(render(after[lifted[0]]))
    assert "activated via" in console.export_text()
    ov.undo(accepted["event"])
    again = ov.ask(lifted[0], goal="bake")
    assert place(again) == place(before[lifted[0]])
