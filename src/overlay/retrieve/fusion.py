"""How much each list counts in hybrid search, per query: weighted reciprocal-rank fusion.

Plain reciprocal-rank fusion trusts both lists equally, so a list that cannot read the query
pulls the right note down. Each list is therefore weighted by how well it covers the query:

- the lexical list by the share of the query's information its index knows: the inverse
  document frequencies of the query's stems that occur in some note, over those of all its
  stems (a stem no note has counts as the rarest). An English question over Russian notes
  shares few stems with them; weight = coverage ** `coverage_power`.
- the dense list by the share of the query's letters in scripts its embedder reads (an
  English-only model reading Cyrillic sees noise), raised to the same power; an embedder that
  declares no scripts reads them all.

The dense list's weight is also lowered by the share of its hits' text (all its hits
together) written in scripts the embedder cannot read: MiniLM over Russian notes. The weights
are relative: the list that covers the query best counts fully (when neither covers it at
all, both count fully). A list that covers the whole query keeps weight 1, so
in one language nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from overlay.lexical import script_of

RRF_K = 60


def coverage(freqs: Sequence[int], total: int) -> float:
    """The share of the query's inverse document frequency carried by stems the index knows."""
    idf = [math.log(1 + total / (f + 1)) for f in freqs]
    whole = sum(idf)
    if whole <= 0:
        return 0.0
    return sum(w for w, f in zip(idf, freqs, strict=True) if f > 0) / whole


def script_share(text: str, scripts: frozenset[str] | None) -> float:
    """The share of the letters of `text` in `scripts` (1.0 when `scripts` is None: all, or
    when `text` has no letters)."""
    if scripts is None:
        return 1.0
    letters = [script_of(ch) for ch in text if ch.isalpha()]
    if not letters:
        return 1.0
    return sum(s in scripts for s in letters) / len(letters)


def relative(weights: dict[str, float]) -> dict[str, float]:
    """Weights scaled so the best-covering list counts fully; all 1 when none covers the
    query at all (no list is better than another then)."""
    top = max(weights.values(), default=0.0)
    return {name: w / top for name, w in weights.items()} if top > 0 else \
        dict.fromkeys(weights, 1.0)


def weighted_rrf(lists: dict[str, list[tuple[str, float]]], weights: dict[str, float],
                 k: int = RRF_K) -> dict[str, dict[str, float]]:
    """Each node's score parts: per list its score, rank and weight (where not 1), and `rrf`,
    the weighted sum of weight / (k + rank) over the lists it is in."""
    parts: dict[str, dict[str, float]] = {}
    for name, ranked in lists.items():
        weight = weights.get(name, 1.0)
        for rank, (node_id, score) in enumerate(ranked, 1):
            p = parts.setdefault(node_id, {})
            p[name], p[name + "_rank"] = score, float(rank)
            if weight != 1.0:
                p[name + "_weight"] = weight
            p["rrf"] = p.get("rrf", 0.0) + weight / (k + rank)
    return parts
