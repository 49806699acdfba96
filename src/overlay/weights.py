"""Semantic weights: Kharkevich's value of information, in bits, from additive counts.

`I = log2(p1/p0)`: how much using node i changes the chance of reaching goal j. p0 is the goal's
base rate over episodes (one per verdict), not over citations; p1 is node i's own rate, shrunk
toward p0, so nothing known gives exactly 0 and a world where every answer is good gives every
node 0. Counts are sums, so every update is O(1), exactly reversible and mergeable
(docs/design.md, "Semantic weights").
"""

from __future__ import annotations

import math


def base_rate(s_j: int, f_j: int) -> float:
    """p0: the chance of reaching goal j at all, from its episodes (one per verdict); 1/2
    before any."""
    n = s_j + f_j
    return s_j / n if n else 0.5


def probabilities(
    s_ij: float, f_ij: float, s_j: int, f_j: int, m: float = 2.0
) -> tuple[float, float]:
    """(p0, p1): the goal's base rate, and the chance of reaching it when node i is used —
    node i's own outcomes shrunk toward p0 by `m` pseudo-episodes, so a node seen once does
    not swing far. Where the node saw what the episodes never did (a success toward a goal
    never yet reached, as a learned statement is), p0 is smoothed by half an episode."""
    p0 = base_rate(s_j, f_j)
    if (p0 == 0.0 and s_ij) or (p0 == 1.0 and f_ij):
        p0 = (s_j + 0.5) / (s_j + f_j + 1)
    p1 = (s_ij + m * p0) / (s_ij + f_ij + m)
    return p0, p1


def information(s_ij: float, f_ij: float, s_j: int, f_j: int, m: float = 2.0) -> float:
    """Bits that node i adds toward goal j: log2(p1/p0). 0 when nothing is known and when
    every episode went the same way; > 0 helps, < 0 hurts."""
    if not (s_ij or f_ij):
        return 0.0
    p0, p1 = probabilities(s_ij, f_ij, s_j, f_j, m)
    return 0.0 if math.isclose(p1, p0, rel_tol=1e-12) else math.log2(p1 / p0)


def count_information(n_ij: int, n_i: int, n_j: int, n: int, smooth: float = 1.0) -> float:
    """The count form for static structure: log2(N_ij·N / (N_i·N_j)), smoothed."""
    return math.log2(((n_ij + smooth) * (n + smooth)) / ((n_i + smooth) * (n_j + smooth)))


MAX_TERM_BITS = 2.0  # a term's weight moves at most 4× either way from its prior
TERM_SHRINK = 10.0  # pseudo-episodes at p0 behind each term's own rate: weights move slowly


def term_weight(prior: float, s_t: int, f_t: int, s_j: int, f_j: int, gain: float = 0.0
                ) -> float:
    """A score term's weight toward goal j, learned from experience. I is the information
    (bits, clamped to ±MAX_TERM_BITS) that following this term's pick carries about a good
    verdict — s_t, f_t count how its picks fared, s_j, f_j are the goal's episodes. The prior
    is scaled by 2^I, and `gain` adds weight per positive bit (so a term that starts at 0, as
    the LM does, earns its weight). No evidence keeps the prior, and so does a goal whose
    verdicts all went one way: there is nothing to tell the terms apart by."""
    if not (s_j and f_j):
        return prior
    bits = max(-MAX_TERM_BITS, min(MAX_TERM_BITS, information(s_t, f_t, s_j, f_j, TERM_SHRINK)))
    return float(prior * 2.0 ** bits + gain * max(0.0, bits))
