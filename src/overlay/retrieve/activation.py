"""Spreading activation over the graph: from the question's best hits outward, decaying per hop.

Max-propagation (a node keeps the strongest path that reached it) so hubs do not pile up
activation from many weak paths. Later, edge weights by information value plug in here.
"""

from __future__ import annotations

from overlay.store.base import Store


def spread(
    store: Store, seeds: dict[str, float], *, decay: float = 0.5, hops: int = 2
) -> dict[str, float]:
    """Activation per node (seeds keep theirs); each hop passes `decay` × the sender's level."""
    level = dict(seeds)
    frontier = dict(seeds)
    for _ in range(hops):
        if not frontier:
            break
        nxt: dict[str, float] = {}
        for frm, to, _kind in store.neighbours(list(frontier)):
            gain = decay * frontier[frm]
            if gain > level.get(to, 0.0) and gain > nxt.get(to, 0.0):
                nxt[to] = gain
        level.update(nxt)
        frontier = nxt
    return level
