"""Insights: pairs of unlinked nodes that keep lighting up together become proposed links.

Each ask adds, for every pair of its candidates both activated above `MIN_LEVEL` and not yet
linked, one to the pair's count of distinct asks (and the weaker level to its running sum).
A pair seen in at least `min_asks` asks is proposed; accepting adds an `analogy` edge (a learn
event), rejecting counts a failure and retires the proposal. All of it is ops, so undoable.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from overlay.graph import EdgeKind, stable_id
from overlay.learning import Op, edge_op
from overlay.store.base import Store
from overlay.trace import Trace

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


def coactivation_ops(store: Store, trace: Trace) -> list[Op]:
    """Ops counting this ask's co-activated, unlinked candidate pairs."""
    levels = {
        c.node_id: c.terms.get("activation", 0.0)
        for c in trace.candidates
        if c.node_id and c.terms.get("activation", 0.0) >= MIN_LEVEL
    }
    top = sorted(levels, key=lambda n: (-levels[n], n))[:TOP]
    pairs = [(min(a, b), max(a, b)) for a, b in combinations(top, 2)]
    linked = store.linked(pairs)
    return [
        {"op": "coact", "a": a, "b": b, "asks": 1, "level": min(levels[a], levels[b])}
        for a, b in pairs
        if (a, b) not in linked
    ]


def proposals(store: Store, min_asks: int = 3) -> list[Insight]:
    rows = [r for r in store.coactivations(min_asks) if not r[4] and not r[5]]
    pairs = [(a, b) for a, b, *_ in rows]
    linked = store.linked(pairs)
    nodes = store.get_nodes([x for p in pairs for x in p])
    out = []
    for a, b, asks, level, _rej, _acc in rows:
        if (a, b) in linked:
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
            )
        )
    return out


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
