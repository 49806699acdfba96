"""Dense retrieval: vectors live in the store; an HNSW index (usearch) beside the store file
makes search fast at a million nodes. The index is a cache: it replays the store's vector
log to catch up, and is rebuilt from the store when missing, stale or built for another model.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from usearch.index import Index

from overlay.retrieve.embed import Embedder
from overlay.store.base import Store, Vector

Progress = Callable[[str, int, int], None]


def embed_text(title: str, text: str) -> str:
    """What a node is embedded as: its title gives a paragraph its context."""
    return f"{title}\n{text}" if title and title != text else text


def embed_missing(
    store: Store,
    embedder: Embedder,
    batch: int = 64,
    progress: Progress | None = None,
) -> int:
    """Embed every node that has no vector for this embedder; commits per chunk."""
    total = store.count_missing_vectors(embedder.name)
    done = 0
    chunk = max(batch * 8, 256)
    while True:
        nodes = store.nodes_missing_vectors(embedder.name, limit=chunk)
        if not nodes:
            return done
        vecs = embedder.embed([embed_text(n.title, n.text) for n in nodes], batch_size=batch)
        with store.change("embed", model=embedder.name, nodes=len(nodes)):
            store.put_vectors([n.id for n in nodes], embedder.name, vecs)
        done += len(nodes)
        if progress:
            progress("embed", done, total)


class VectorIndex:
    """An HNSW index over one model's vectors, saved as `<db>.<model>.usearch`."""

    def __init__(
        self, store: Store, model: str, dim: int, exact_below: int = 20_000, expansion: int = 256
    ) -> None:
        self.store, self.model, self.dim = store, model, dim
        self.exact_below, self.expansion = exact_below, expansion
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
        self.path = Path(f"{store.path}.{safe}.usearch")
        self.meta_path = self.path.with_suffix(".json")
        self.index: Index | None = None

    def _new(self) -> Index:
        # connectivity 16 / expansion_add 64 builds 2.4× faster than 128 for the same recall
        # once the search expansion is raised (measured at 100k in bench/retrieve.py)
        return Index(
            ndim=self.dim,
            metric="cos",
            dtype="f32",
            connectivity=16,
            expansion_add=64,
            expansion_search=self.expansion,
        )

    def sync(self, progress: Progress | None = None) -> dict[str, float]:
        """Bring the index up to date with the store; returns what it did and how long."""
        t0 = time.perf_counter()
        seq, index = self._load()
        if index is None:
            index = self._new()
            last = self.store.vector_seq()
            total = max(1, self.store.stats()["vectors"])
            for keys, vecs in self.store.iter_vectors(self.model):
                index.add(np.asarray(keys, dtype=np.uint64), vecs, threads=os.cpu_count() or 1)
                if progress:
                    progress("index", len(index), total)
            self.index = index
            self._save(last)
            return {"rebuilt": 1.0, "vectors": float(len(index)), "s": time.perf_counter() - t0}
        last, changes = self.store.vector_changes(seq)
        if changes:
            keys = [k for k, _ in changes]
            present = [k for k in keys if index.contains(k)]
            if present:
                index.remove(np.asarray(present, dtype=np.uint64))
            put = [k for k, op in changes if op == "put"]
            found, vecs = self.store.get_vectors(put, self.model)
            if found:
                index.add(np.asarray(found, dtype=np.uint64), vecs)
        self.index = index
        if last != seq:
            self._save(last)
        return {"rebuilt": 0.0, "changed": float(len(changes)), "s": time.perf_counter() - t0}

    def _load(self) -> tuple[int, Index | None]:
        if not (self.path.exists() and self.meta_path.exists()):
            return 0, None
        try:
            meta = json.loads(self.meta_path.read_text())
            if meta.get("model") != self.model or meta.get("dim") != self.dim:
                return 0, None
            index = self._new()
            index.load(str(self.path))
        except (OSError, ValueError, RuntimeError):
            return 0, None  # a damaged cache is rebuilt from the store
        return int(meta["seq"]), index

    def _save(self, seq: int) -> None:
        assert self.index is not None
        tmp = self.path.with_suffix(".tmp")
        self.index.save(str(tmp))
        os.replace(tmp, self.path)
        self.meta_path.write_text(json.dumps({"model": self.model, "dim": self.dim, "seq": seq}))

    def search(self, query: Vector, k: int) -> list[tuple[int, float]]:
        """(store key, cosine similarity) of the k nearest vectors."""
        if self.index is None:
            self.sync()
        assert self.index is not None
        if len(self.index) == 0:
            return []
        exact = len(self.index) < self.exact_below
        matches = self.index.search(query.astype(np.float32), min(k, len(self.index)), exact=exact)
        return [
            (int(key), 1.0 - float(dist))
            for key, dist in zip(matches.keys, matches.distances, strict=True)
        ]
