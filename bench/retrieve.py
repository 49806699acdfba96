"""Retrieval latency at 10k / 100k / 1M synthetic nodes: lexical, dense, hybrid p50/p95, and
dense recall@10 of the HNSW index against exact search.

Text is Zipf-distributed made-up words. Vectors are synthetic (a mixture of 2,000 clusters in
384 dimensions, the size of MiniLM's) because embedding a million texts with MiniLM takes hours
on two cores. The hybrid query still pays the real cost of embedding the query text with
MiniLM: that vector is timed, then a synthetic query vector of the same size is searched.

Run: python bench/retrieve.py [--sizes 10000,100000,1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import DATA, RESULTS, percentiles, save, vocabulary, zipf_sentence
from overlay.config import RetrieveConfig
from overlay.graph import Node, NodeKind
from overlay.retrieve.dense import VectorIndex
from overlay.retrieve.embed import SentenceTransformerEmbedder, packaged_minilm
from overlay.retrieve.hybrid import Retriever
from overlay.store import SQLiteStore

DIM, LATENT, CLUSTERS, MODEL = 384, 32, 2000, "synthetic-384"


def synthetic_vectors(n: int, seed: int) -> np.ndarray:
    """Sentence embeddings have a low intrinsic dimension: clusters (topics) in a 32-dimensional
    latent space, projected into 384 dimensions, plus a little isotropic noise. Every call draws
    from the same topics; `seed` only changes which points are drawn."""
    fixed = np.random.default_rng(0)  # one "embedding space": the same topics for all draws
    project = fixed.standard_normal((LATENT, DIM)).astype(np.float32)
    centres = fixed.standard_normal((CLUSTERS, LATENT)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        which = rng.integers(0, CLUSTERS, stop - start)
        latent = centres[which] + 0.5 * rng.standard_normal((stop - start, LATENT)).astype(
            np.float32
        )
        block = latent @ project + 0.5 * rng.standard_normal((stop - start, DIM)).astype(np.float32)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


class TimedQueryEmbedder:
    """Embeds the query text with MiniLM (the real cost), returns a synthetic vector."""

    name, dim = MODEL, DIM

    def __init__(self, real: SentenceTransformerEmbedder, queries: np.ndarray) -> None:
        self.real, self.queries, self.i = real, queries, 0

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        self.real.embed(texts)
        vec = self.queries[self.i % len(self.queries)][None, :]
        self.i += 1
        return vec


def build(path: Path, n: int, vocab: list[str]) -> tuple[SQLiteStore, np.ndarray, float]:
    if path.exists():
        path.unlink()
    store = SQLiteStore(path)
    rng = random.Random(n)
    vecs = synthetic_vectors(n, seed=n)
    t0 = time.perf_counter()
    step = 20_000
    for start in range(0, n, step):
        nodes = [
            Node(
                f"n{i}",
                NodeKind.BLOCK,
                zipf_sentence(rng, vocab, 4),
                zipf_sentence(rng, vocab, 30),
                "synthetic.md",
                i,
                i,
            )
            for i in range(start, min(n, start + step))
        ]
        with store.change("bench.load", nodes=len(nodes)):
            store.put_nodes(nodes)
            store.put_vectors([x.id for x in nodes], MODEL, vecs[start : start + len(nodes)])
        print(f"  loaded {start + len(nodes):,}/{n:,}", file=sys.stderr, end="\r")
    return store, vecs, time.perf_counter() - t0


def run_size(n: int, queries: int, vocab: list[str], real: SentenceTransformerEmbedder) -> dict:
    path = DATA / f"retrieve-{n}.db"
    for old in DATA.glob(f"retrieve-{n}.db*"):
        old.unlink()
    store, vecs, load_s = build(path, n, vocab)
    config = RetrieveConfig(embedder="none")
    index = VectorIndex(store, MODEL, config.exact_below, config.ann_expansion)
    t0 = time.perf_counter()
    index.sync()
    index_s = time.perf_counter() - t0

    qvecs = synthetic_vectors(queries, seed=n + 1)  # fresh points, not copies of stored ones
    qrng = random.Random(99)
    texts = [zipf_sentence(qrng, vocab, 5) for _ in range(queries)]

    # dense recall@10: HNSW against exact (brute force) on the same vectors
    hits = 0
    dense_t: list[float] = []
    assert index.index is not None
    for q in qvecs:
        t = time.perf_counter()
        approx = index.index.search(q, 10, exact=False)
        dense_t.append(time.perf_counter() - t)
        exact = np.argsort(-(vecs @ q))[:10]
        hits += len({int(k) for k in approx.keys} & {int(x) + 1 for x in exact})
    recall = hits / (10 * queries)

    retriever = Retriever(store, config, None)
    lexical_t = []
    for text in texts:
        t = time.perf_counter()
        retriever.lexical(text, 50)
        lexical_t.append(time.perf_counter() - t)

    hybrid = Retriever(store, config, TimedQueryEmbedder(real, qvecs))  # type: ignore[arg-type]
    hybrid.index = index
    hybrid_t = []
    for text in texts:
        t = time.perf_counter()
        hybrid.search(text, 10)
        hybrid_t.append(time.perf_counter() - t)
    embed_t = []
    for text in texts[:50]:
        t = time.perf_counter()
        real.embed([text])
        embed_t.append(time.perf_counter() - t)
    store.close()
    size = sum(p.stat().st_size for p in DATA.glob(f"retrieve-{n}.db*"))
    for old in DATA.glob(f"retrieve-{n}.db*"):
        old.unlink()
    return {
        "nodes": n,
        "load_s": round(load_s, 1),
        "index_build_s": round(index_s, 1),
        "disk_mb": round(size / 1e6),
        "dense_recall_at_10": round(recall, 4),
        "lexical": percentiles(lexical_t),
        "dense_hnsw": percentiles(dense_t),
        "query_embedding": percentiles(embed_t),
        "hybrid": percentiles(hybrid_t),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--merge", action="store_true", help="keep earlier results for sizes not rerun"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    DATA.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary(30_000)
    real = SentenceTransformerEmbedder(packaged_minilm(), name="all-MiniLM-L6-v2")
    runs = [run_size(int(s), args.queries, vocab, real) for s in args.sizes.split(",")]
    previous = RESULTS / "retrieve.json"
    if args.merge and previous.exists():
        fresh = {r["nodes"] for r in runs}
        kept = [r for r in json.loads(previous.read_text())["runs"] if r["nodes"] not in fresh]
        for r in kept:
            r["measured"] = "in an earlier run"
        runs = sorted(runs + kept, key=lambda r: r["nodes"])
    save("retrieve", {"queries": args.queries, "runs": runs})
    shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
