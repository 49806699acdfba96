"""Verdict evidence conditioned on the question: what a node's past verdicts say about it for
*this* question.

A verdict on an answer is evidence about the node the answer led with, for questions like the
one judged. A note that answered "how much salt goes in?" badly is not worse for "how long
does bulk fermentation take?", which it may answer well. So the selector's information term
reads a node's counts with each verdict weighted by how near its question is to the one asked:

    s_i(q) = s_i − Σ_e s_ie + Σ_e k(q, q_e) · s_ie        (f_i(q) likewise)
    k(q, q_e) = max(0, (cos(q, q_e) − τ) / (1 − τ))

e runs over the questions node i was judged on toward the goal (`judged` rows), s_i, f_i are
the node's counts toward it, and τ is `judged_similarity`. What the counts hold besides
verdicts (a learned statement's own success, verdicts given before store schema 8) stays
global. Without an embedder, k is 1 for the same question (case and spacing aside) and 0
otherwise. The node's own counts (its page, goal-driven activation) are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from overlay.store.base import Store, Vector

Counts = dict[str, tuple[float, float]]


def same(a: str, b: str) -> bool:
    """The same question, case and spacing aside."""
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def nearness(question: str, vector: Vector | None, judged: Sequence[str],
             vectors: dict[str, Vector], floor: float) -> dict[str, float]:
    """k(q, q_e) for each judged question: 1 for the same question; else its cosine to the
    asked one ramped from `floor` (0) to 1, or 0 where either has no vector."""
    out: dict[str, float] = {}
    unit = None if vector is None else vector / (float(np.linalg.norm(vector)) or 1.0)
    for q in judged:
        other = vectors.get(q)
        if same(q, question):
            out[q] = 1.0
        elif unit is None or other is None or other.shape != unit.shape:
            out[q] = 0.0
        else:
            cos = float(unit @ other) / (float(np.linalg.norm(other)) or 1.0)
            out[q] = max(0.0, (cos - floor) / (1.0 - floor))
    return out


def conditioned(counts: dict[str, tuple[int, int]],
                judged: dict[str, list[tuple[str, int, int]]],
                near: dict[str, float]) -> Counts:
    """Each node's (s, f) toward the goal with its verdicts weighted by `near`."""
    out: Counts = {n: (float(s), float(f)) for n, (s, f) in counts.items()}
    for node, rows in judged.items():
        s, f = out.get(node, (0.0, 0.0))
        for question, ds, df in rows:
            k = near.get(question, 0.0)
            s, f = s - ds + k * ds, f - df + k * df
        out[node] = (max(0.0, s), max(0.0, f))
    return out


def evidence(store: Store, node_ids: Sequence[str], goal: str, question: str,
             vector: Callable[[], Vector | None], model: str | None, floor: float) -> Counts:
    """The nodes' counts toward `goal` as they bear on `question` (see the module).
    `vector` gives the question's embedding; it is asked for only when a node was judged."""
    counts = store.counts(node_ids, goal)
    judged = store.judged(node_ids, goal)
    if not judged:
        return conditioned(counts, {}, {})
    asked = sorted({q for rows in judged.values() for q, _s, _f in rows})
    mine = vector() if model else None
    vectors = store.question_vectors(asked, model) if model and mine is not None else {}
    return conditioned(counts, judged, nearness(question, mine, asked, vectors, floor))
