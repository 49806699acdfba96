"""Insights: pairs of unlinked nodes whose lighting up together helps reach a goal become
proposed links.

Each ask adds, for every pair of its candidates both activated above `MIN_LEVEL` and not yet
linked, one to the pair's count of distinct asks (and the weaker level to its running sum).
A verdict on the ask counts it for each such pair and the goal (`pair_ops`), so the pair has
Kharkevich's information toward the goal like a node has: I = log2(p1/p0), p1 the chance of a
good verdict when the pair was co-activated. A pair seen in at least `min_asks` asks is
proposed unless its bits are negative (co-activated where answers failed), the ones expected
to add the most bits first; with no verdicts yet it expects 0. Accepting adds an `analogy`
edge (a learn event), which goal-driven activation follows; rejecting counts a failure and
retires the proposal. All of it is ops, so undoable.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from overlay.graph import EdgeKind, stable_id
from overlay.learning import Op, edge_op
from overlay.store.base import Store
from overlay.trace import Trace
from overlay.weights import information

MIN_LEVEL = 0.25
TOP = 8


@dataclass
class Insight:
    id: str
    a: str
    b: str
    asks: int
    level: float
    title_a: str = ""
    title_b: str = ""
    bits: float = 0.0  # information toward `goal` that co-activating the pair carried
    goal: str = ""
    verdicts: int = 0  # judged asks behind `bits`


def coactivated(store: Store, trace: Trace) -> dict[tuple[str, str], float]:
    """This ask's co-activated, unlinked candidate pairs (a < b), with the weaker level."""
    levels = {
        c.node_id: c.terms.get("activation", 0.0)
        for c in trace.candidates
        if c.node_id and c.terms.get("activation", 0.0) >= MIN_LEVEL
    }
    top = sorted(levels, key=lambda n: (-levels[n], n))[:TOP]
    pairs = [(min(a, b), max(a, b)) for a, b in combinations(top, 2)]
    linked = store.linked(pairs)
    return {(a, b): min(levels[a], levels[b]) for a, b in pairs if (a, b) not in linked}


def coactivation_ops(store: Store, trace: Trace) -> list[Op]:
    """Ops counting this ask's co-activated, unlinked candidate pairs."""
    return [{"op": "coact", "a": a, "b": b, "asks": 1, "level": level}
            for (a, b), level in coactivated(store, trace).items()]


def pair_ops(store: Store, trace: Trace, goal: str, ds: int, df: int) -> list[Op]:
    """Ops counting a verdict (Δs, Δf) toward `goal` on the pairs the ask co-activated."""
    if trace.kind != "ask":
        return []
    pairs = coactivated(store, trace)
    present = store.get_nodes([x for p in pairs for x in p])
    return [{"op": "pair", "a": a, "b": b, "goal": goal, "s": ds, "f": df}
            for a, b in pairs if a in present and b in present]


def expected_bits(store: Store, pair: tuple[str, str]) -> tuple[float, str, int]:
    """(bits, goal, verdicts): the goal toward which co-activating `pair` carried the most
    information; (0, "", 0) before any verdict."""
    best = (0.0, "", 0)
    for goal, (s, f) in sorted(store.pair_counts([pair])[pair].items()):
        bits = information(s, f, *store.goal_totals(goal))
        if not best[2] or bits > best[0]:
            best = (bits, goal, s + f)
    return best


def proposals(store: Store, min_asks: int = 3) -> list[Insight]:
    """Pairs co-activated in at least `min_asks` asks, not decided, not linked, and not
    carrying negative bits toward their goal; the most bits first, then the most asks."""
    rows = [r for r in store.coactivations(min_asks) if not r[4] and not r[5]]
    pairs = [(a, b) for a, b, *_ in rows]
    linked = store.linked(pairs)
    nodes = store.get_nodes([x for p in pairs for x in p])
    out = []
    for a, b, asks, level, _rej, _acc in rows:
        if (a, b) in linked:
            continue
        bits, goal, verdicts = expected_bits(store, (a, b))
        if bits < 0:
            continue
        out.append(
            Insight(
                stable_id(a, b),
                a,
                b,
                asks,
                round(level / asks, 4),
                nodes[a].title if a in nodes else "",
                nodes[b].title if b in nodes else "",
                round(bits, 4),
                goal,
                verdicts,
            )
        )
    return sorted(out, key=lambda i: (-i.bits, -i.asks, -i.level, i.a, i.b))


def find(store: Store, insight_id: str) -> Insight | None:
    for row in store.coactivations(1):
        if stable_id(row[0], row[1]).startswith(insight_id):
            return Insight(stable_id(row[0], row[1]), row[0], row[1], row[2], row[3])
    return None


def decision_ops(insight: Insight, accept: bool) -> list[Op]:
    if accept:
        return [
            edge_op(insight.a, insight.b, EdgeKind.ANALOGY, insight=insight.id),
            {"op": "coact", "a": insight.a, "b": insight.b, "accepted": 1},
        ]
    return [{"op": "coact", "a": insight.a, "b": insight.b, "rejected": 1}]
