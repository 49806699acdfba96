"""Goal-driven spreading activation: from the question's hits and the goal's most informative
nodes outward, each hop weighted by the edge's kind and by what its target is worth to the goal.

    a(target) = max over edges of  decay · w(kind) · f(I(target, goal)) · a(sender)
    f(I) = 2 / (1 + 2^-I)    (1 at 0 bits; toward 2 for a node that helps, 0 for one that hurts)

Max-propagation (a node keeps the strongest path that reached it), so hubs do not pile up
activation from many weak paths, and every level has one path to show. The goal's nodes are a
second source (seed 003: tension toward the goal drives activation): their activation adds to
what the question reaches, and reaches nothing the question does not, so a goal never pulls
in notes the question is not about.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from overlay.graph import EdgeKind
from overlay.store.base import Store
from overlay.weights import information

# how much of a sender's activation an edge of each kind passes on (before decay)
EDGE_WEIGHTS: dict[str, float] = {
    EdgeKind.SUPPORTS: 1.0,
    EdgeKind.ANALOGY: 1.0,  # an insight the user accepted
    EdgeKind.LINKS_TO: 1.0,
    EdgeKind.CAUSES: 1.0,
    EdgeKind.SERVES: 1.0,
    EdgeKind.PRECEDES: 0.8,
    EdgeKind.PART_OF: 0.8,
    EdgeKind.DERIVED_FROM: 0.8,
    EdgeKind.CONTRADICTS: 0.5,  # worth seeing beside what it contradicts, not worth following
}
GOAL_LEVEL = 0.5  # the most a goal's node starts with (at many bits toward the goal)
GOAL_SCAN = 200  # the goal's nodes with the most successes that are weighed as seeds

Info = Callable[[Sequence[str]], dict[str, float]]  # node ids → bits toward the goal


@dataclass(frozen=True)
class Activated:
    """A node's activation and the path that gave it (its seed first, the node last)."""

    level: float
    path: tuple[str, ...]


def boost(bits: float) -> float:
    """f(I): how a target's information toward the goal scales what reaches it."""
    return float(2.0 / (1.0 + 2.0 ** -bits))


def goal_info(store: Store, goal: str) -> Info:
    """Bits toward `goal` of given nodes, from their counts and the goal's episodes."""
    s_j, f_j = store.goal_totals(goal)

    def bits(node_ids: Sequence[str]) -> dict[str, float]:
        counts = store.counts(node_ids, goal) if node_ids and (s_j or f_j) else {}
        return {n: information(s, f, s_j, f_j) for n, (s, f) in counts.items()}

    return bits


def goal_seeds(store: Store, goal: str, top: int) -> dict[str, float]:
    """The goal's `top` most informative nodes (positive bits only), each starting at up to
    `GOAL_LEVEL`: GOAL_LEVEL · (1 − 2^-I)."""
    if top <= 0:
        return {}
    s_j, f_j = store.goal_totals(goal)
    if not (s_j and f_j):  # every verdict one way: no node is informative (all 0 bits)
        return {}
    scored = {n: information(s, f, s_j, f_j) for n, (s, f) in store.best_counts(goal, GOAL_SCAN)}
    best = sorted((n for n in scored if scored[n] > 0), key=lambda n: (-scored[n], n))[:top]
    return {n: GOAL_LEVEL * (1.0 - 2.0 ** -scored[n]) for n in best}


def _wave(store: Store, seeds: dict[str, float], decay: float, hops: int, info: Info | None
          ) -> dict[str, Activated]:
    """Max-propagation from `seeds` for `hops` hops."""
    level = {n: Activated(a, (n,)) for n, a in seeds.items()}
    frontier = dict(level)
    for _ in range(hops):
        if not frontier:
            break
        edges = store.neighbours(list(frontier))
        worth = info(sorted({to for _f, to, _k in edges})) if info else {}
        nxt: dict[str, Activated] = {}
        for frm, to, kind in edges:
            sender = frontier[frm]
            gain = min(1.0, decay * EDGE_WEIGHTS.get(kind, 0.5) * boost(worth.get(to, 0.0))
                       * sender.level)
            best = nxt.get(to) or level.get(to)
            if best is None or gain > best.level:
                nxt[to] = Activated(gain, (*sender.path, to))
        level.update(nxt)
        frontier = nxt
    return level


def spread(
    store: Store,
    seeds: dict[str, float],
    *,
    decay: float = 0.5,
    hops: int = 2,
    goal: str | None = None,
    goal_nodes: int = 0,
) -> dict[str, Activated]:
    """Activation per node: the question's `seeds` (their levels kept) and, with a `goal`,
    its `goal_nodes` most informative nodes, spread `hops` hops. A node the goal's wave
    reaches gets that activation added (capped at 1), if the question's wave reached it too."""
    info = goal_info(store, goal) if goal else None
    asked = _wave(store, seeds, decay, hops, info)
    toward = _wave(store, goal_seeds(store, goal, goal_nodes), decay, hops, info) if goal else {}
    out = dict(asked)
    for node, pulled in toward.items():
        if node in asked:
            mine = asked[node]
            path = pulled.path if pulled.level > mine.level else mine.path
            out[node] = Activated(min(1.0, mine.level + pulled.level), path)
    return out
