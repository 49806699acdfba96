"""Hybrid retrieval: lexical (BM25 over stems) and dense (embeddings) fused by reciprocal
rank, then one hop along the graph's edges. Every hit keeps the parts of its score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from overlay.config import RetrieveConfig
from overlay.graph import EdgeKind, Node, Within
from overlay.lexical import WORD, analyze
from overlay.retrieve.dense import VectorIndex
from overlay.retrieve.embed import Embedder, queries
from overlay.retrieve.fusion import coverage, relative, script_share, weighted_rrf
from overlay.store.base import Store, Vector

# a query term found in more than this share of nodes carries no signal and costs the most
COMMON_TERM_SHARE = 0.25
MAX_QUERY_TERMS = 24
EXPAND_KINDS = [k for k in EdgeKind if k is not EdgeKind.PART_OF]


@dataclass
class Hit:
    """One search result: where it is, what it says, and why it ranked."""

    node_id: str
    kind: str
    title: str
    snippet: str
    source_path: str | None
    line: int | None
    score: float
    parts: dict[str, float] = field(default_factory=dict)
    via: list[str] = field(default_factory=list)
    speaker: str | None = None  # a conversation's turn: who said it, and when
    time: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.node_id,
            "kind": self.kind,
            "title": self.title,
            "snippet": self.snippet,
            "source": self.source_path,
            "line": self.line,
            "score": round(self.score, 6),
            "parts": {k: round(v, 6) for k, v in self.parts.items()},
            "via": self.via,
            **({"speaker": self.speaker} if self.speaker else {}),
            **({"time": self.time} if self.time else {}),
        }


def snippet(text: str, query_stems: set[str], width: int = 220) -> str:
    """A window of `text` around the first word whose stem the query shares, on one line."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    start = 0
    for m in WORD.finditer(flat):
        stems = analyze(m.group(0))
        if stems and stems[0] in query_stems:
            start = max(0, m.start() - width // 4)
            break
    piece = flat[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")


class Retriever:
    """Searches one store with a lexical index, an optional embedder and the graph."""

    def __init__(
        self,
        store: Store,
        config: RetrieveConfig,
        embedder: Embedder | None,
        index: VectorIndex | None = None,
    ) -> None:
        """`index` shares another retriever's vector index (a reader beside the writer)."""
        self.store, self.config, self.embedder = store, config, embedder
        if index is None and embedder is not None:
            index = VectorIndex(store, embedder.name, config.exact_below, config.ann_expansion)
        self.index = index
        self._last: tuple[str, Vector] | None = None  # the last query's vector

    def vector(self, query: str) -> Vector | None:
        """The query's embedding (None without an embedder); the last one is kept, so the
        selector's look-ups after a search do not embed the question again."""
        if self.embedder is None:
            return None
        last = self._last
        if last is not None and last[0] == query:
            return last[1]
        vec: Vector = queries(self.embedder, [query])[0]
        self._last = (query, vec)
        return vec

    def query_terms(self, query: str) -> tuple[list[str], float]:
        """The query's stems minus those too common to tell nodes apart (rarest first), and
        how much of the query the index covers (`fusion.coverage`)."""
        stems = list(dict.fromkeys(analyze(query)))
        if not stems:
            return [], 0.0
        total, freqs = self.store.doc_freqs(stems)
        present = sorted((s for s in stems if freqs[s] > 0), key=lambda s: freqs[s])
        useful = [s for s in present if freqs[s] <= COMMON_TERM_SHARE * max(total, 1)]
        return (useful or present[:1])[:MAX_QUERY_TERMS], coverage(
            [freqs[s] for s in stems], total)

    def lexical(self, query: str, limit: int) -> list[tuple[str, float]]:
        return self.store.lexical_search(self.query_terms(query)[0], limit)

    def dense(self, query: str, limit: int,
              keys: list[int] | None = None) -> list[tuple[str, float]]:
        """The nearest nodes by cosine; with `keys`, exactly, among those nodes only (an
        index cannot filter, and a filter leaves few)."""
        vec = self.vector(query) if self.index is not None else None
        if vec is None or self.index is None:
            return []
        if keys is None:  # the index finds them; their cosines are computed here, below
            keys = [k for k, _ in self.index.search(vec, limit, self.store)]
        found, vecs = self.store.get_vectors(keys, self.index.model)
        if not found:
            return []
        # one computation of the cosine, whichever index found the vectors, and ties in key
        # order: both stores give the same list
        norms = np.linalg.norm(vecs, axis=1) * float(np.linalg.norm(vec))
        sims = ((vecs @ vec) / np.maximum(norms, 1e-12)).tolist()
        pairs = sorted(zip(found, sims, strict=True), key=lambda p: (-p[1], p[0]))[:limit]
        ids = self.store.ids_of_keys([k for k, _ in pairs])
        return [(ids[k], sim) for k, sim in pairs if k in ids]

    def weights(self, query: str, covered: float,
                dense: list[tuple[str, float]]) -> dict[str, float]:
        """How much each list counts for `query` (see `overlay.retrieve.fusion`): the lexical
        list by how much of the query its index covers; the dense list, for an embedder that
        reads only some scripts, by the share of the query and of its hits' text it reads."""
        scripts = getattr(self.embedder, "scripts", None)
        reads = script_share(query, scripts)
        if scripts is not None and dense and reads > 0:
            nodes = self.store.get_nodes([i for i, _ in dense])
            reads *= script_share(" ".join(n.text for n in nodes.values()), scripts)
        power = self.config.coverage_power  # a list that reads half the query counts 1/8
        return relative({"lexical": covered ** power, "dense": reads ** power})

    def search(self, query: str, k: int = 10, *, expand: bool = True,
               within: Within | None = None) -> list[Hit]:
        """Fuse lexical and dense ranks (reciprocal rank, each list weighted by how well it
        covers the query), spread to one-hop neighbours, return the top k; with `within`,
        only among the nodes it admits."""
        pool = max(self.config.pool, k)
        terms, covered = self.query_terms(query)
        keys = None if within is None or within.empty else self.store.keys_within(within)
        lexical = self.store.lexical_search(terms, pool, keys)
        dense = self.dense(query, pool, keys)
        parts = weighted_rrf({"lexical": lexical, "dense": dense},
                             self.weights(query, covered, dense), self.config.rrf_k)
        via: dict[str, list[str]] = {}
        if expand and parts and self.config.expand_weight > 0:
            top = sorted(parts, key=lambda i: -parts[i]["rrf"])[:k]
            for frm, to, _kind in self.store.neighbours(top, EXPAND_KINDS):
                if keys is not None and to not in parts:
                    continue  # a neighbour outside the filter stays out
                gain = self.config.expand_weight * parts[frm]["rrf"]
                p = parts.setdefault(to, {})
                if gain > p.get("graph", 0.0):
                    p["graph"] = gain
                via.setdefault(to, []).append(frm)
        for p in parts.values():
            # a neighbour is lifted to part of its hit's score, never above it, and a node's
            # own evidence is not inflated by its links (adding would let any node linked to
            # the best hit outrank it: RRF scores differ by little)
            p["score"] = max(p.get("rrf", 0.0), p.get("graph", 0.0))
        best = sorted(parts, key=lambda i: (-parts[i]["score"], i))[:k]
        nodes = self.store.get_nodes(best)
        stems = set(analyze(query))
        return [self._hit(nodes[i], parts[i], via.get(i, []), stems) for i in best if i in nodes]

    @staticmethod
    def _hit(node: Node, parts: dict[str, float], via: list[str], stems: set[str]) -> Hit:
        score = parts.pop("score")
        return Hit(
            node.id,
            node.kind.value,
            node.title,
            snippet(node.text, stems),
            node.source_path,
            node.line_start,
            score,
            parts,
            sorted(set(via)),
            node.meta.get("speaker"),
            node.meta.get("time"),
        )
