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
    s_ij: int, f_ij: int, s_j: int, f_j: int, m: float = 2.0
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


def information(s_ij: int, f_ij: int, s_j: int, f_j: int, m: float = 2.0) -> float:
    """Bits that node i adds toward goal j: log2(p1/p0). 0 when nothing is known and when
    every episode went the same way; > 0 helps, < 0 hurts."""
    p0, p1 = probabilities(s_ij, f_ij, s_j, f_j, m)
    return 0.0 if p1 == p0 else math.log2(p1 / p0)


def count_information(n_ij: int, n_i: int, n_j: int, n: int, smooth: float = 1.0) -> float:
    """The count form for static structure: log2(N_ij·N / (N_i·N_j)), smoothed."""
    return math.log2(((n_ij + smooth) * (n + smooth)) / ((n_i + smooth) * (n_j + smooth)))
