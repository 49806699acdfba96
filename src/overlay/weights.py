"""Semantic weights: Kharkevich's value of information, in bits, from additive counts.

`I = log2(p1/p0)`: how much using node i changes the chance of reaching goal j, with a Beta(a, b)
prior so that nothing known gives exactly 0. Counts are sums, so every update is O(1), exactly
reversible and mergeable (docs/design.md, "Semantic weights").
"""

from __future__ import annotations

import math


def information(s_ij: int, f_ij: int, s_j: int, f_j: int, a: float = 1.0, b: float = 1.0) -> float:
    """Bits that node i adds toward goal j (0 when nothing is known, >0 helps, <0 hurts)."""
    p0 = (s_j + a) / (s_j + f_j + a + b)
    p1 = (s_ij + a) / (s_ij + f_ij + a + b)
    return math.log2(p1 / p0)


def count_information(n_ij: int, n_i: int, n_j: int, n: int, smooth: float = 1.0) -> float:
    """The count form for static structure: log2(N_ij·N / (N_i·N_j)), smoothed."""
    return math.log2(((n_ij + smooth) * (n + smooth)) / ((n_i + smooth) * (n_j + smooth)))
