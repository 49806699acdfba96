"""Dense retrieval: vectors live in the store; an HNSW index (usearch) beside the store file
makes search fast at a million nodes. The index is a cache: it replays the store's vector
log to catch up, and is rebuilt from the store when missing, stale or built for another model.
A store that indexes its vectors itself (PostgreSQL with pgvector) is searched through that.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
from usearch.index import Index

from overlay import cancel
from overlay.progress import Progress
from overlay.retrieve.embed import Embedder
from overlay.store.base import Store, Vector

SAVE_AFTER_CHANGES = 2_000


def embed_text(title: str, text: str, context: str = "") -> str:
    """What a node is embedded as: its title gives a paragraph its context, and a
    conversation's turn is read after the turn it answers (`context`): "Yes, every
    weekend!" means what it replies to. (On LoCoMo's first two conversations the dense list
    alone finds 15 points more evidence turns in its ten so.) Both embed some words twice,
    measured to pay: a note's title over its paragraphs costs e5 8–11% more tokens on the
    example vaults and lifts the dense list's note hit@1 from 0.874 to 0.893 (English, 103
    questions) and from 0.831 to 0.846 (Russian); a SciFact-sized vault embeds 1.12 tokens per
    token of its notes (bench/embed.py)."""
    return "\n".join(p for p in (title if title != text else "", context, text) if p)


def embed_missing(
    store: Store,
    embedder: Embedder,
    batch: int = 64,
    progress: Progress | None = None,
) -> int:
    """Embed every node that has no vector for this embedder; commits per chunk."""
    total = store.count_missing_vectors(embedder.name)
    done = 0
    chunk = max(batch * 32, 256)  # large chunks let the model batch texts of similar length
    while True:
        cancel.check()  # a request's budget, or a shutdown, stops between chunks: each is whole
        nodes = store.nodes_missing_vectors(embedder.name, limit=chunk)
        if not nodes:
            return done
        vecs = embedder.embed([embed_text(n.title, n.text, n.meta.get("context") or "")
                               for n in nodes], batch_size=batch)
        with store.change("embed", model=embedder.name, nodes=len(nodes)):
            store.put_vectors([n.id for n in nodes], embedder.name, vecs)
        done += len(nodes)
        if progress:
            progress("embed", done, total)


def embed_and_sync(store: Store, embedder: Embedder, index: VectorIndex, batch: int,
                   progress: Progress | None = None) -> tuple[int, float, float]:
    """Embed the nodes with no vector from `embedder`, then bring `index` up to date:
    (nodes embedded, seconds embedding, seconds indexing)."""
    t0 = time.perf_counter()
    done = embed_missing(store, embedder, batch, progress)
    t1 = time.perf_counter()
    index.sync(progress)
    return done, t1 - t0, time.perf_counter() - t1


class VectorIndex:
    """An HNSW index over one model's vectors, saved as `<db>.<model>.usearch`.

    Its size comes from the stored vectors, so opening it never loads the model. One index can
    serve several connections to its store (a server's readers): a search catches up with the
    log through the caller's connection, changes are applied under a lock, and only the
    writer's connection (the one it was made with) saves the file."""

    def __init__(
        self, store: Store, model: str, exact_below: int = 20_000, expansion: int = 256
    ) -> None:
        self.store, self.model = store, model
        self.exact_below, self.expansion = exact_below, expansion
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
        self.path = Path(f"{store.path}.{safe}.usearch")
        self.meta_path = self.path.with_suffix(".json")
        self.index: Index | None = None
        self.seq = -1  # vector-log position the index in memory reflects
        self.saved = -1  # ... and the one the file on disk reflects
        self._lock = threading.RLock()
        self._counted = (-1e9, 0)  # when the store's vectors were counted, and how many

    def _small(self, store: Store) -> bool:
        """Whether the store holds fewer than `exact_below` of this model's vectors (counted
        again after a minute), so that its own index is searched exactly."""
        now = time.monotonic()
        if now - self._counted[0] > 60:
            self._counted = (now, store.count_vectors(self.model))
        return self._counted[1] < self.exact_below

    def _new(self, dim: int) -> Index:
        # connectivity 16 / expansion_add 64 builds 2.4× faster than 128 for the same recall
        # once the search expansion is raised (measured at 100k in bench/retrieve.py)
        return Index(
            ndim=dim,
            metric="cos",
            dtype="f32",
            connectivity=16,
            expansion_add=64,
            expansion_search=self.expansion,
        )

    def sync(
        self, progress: Progress | None = None, store: Store | None = None
    ) -> dict[str, float]:
        """Bring the index up to date with the store (read through `store`, a reader's
        connection, if given); returns what it did and how long. A store that indexes its
        own vectors (PostgreSQL's pgvector) keeps its index current itself."""
        if self.store.indexes_vectors:
            return {"rebuilt": 0.0, "changed": 0.0, "s": 0.0}
        with self._lock:
            return self._sync(progress, store or self.store)

    def _sync(self, progress: Progress | None, store: Store) -> dict[str, float]:
        t0 = time.perf_counter()
        if self.seq < 0:
            self.seq, self.index = self._load()
            self.saved = self.seq
        if self.seq < 0:
            return self._rebuild(progress, t0, store)
        last, changes = store.vector_changes(self.seq)
        if changes:
            keys = [k for k, _ in changes]
            found, vecs = store.get_vectors([k for k, op in changes if op == "put"], self.model)
            if self.index is None and found:
                self.index = self._new(vecs.shape[1])
            if self.index is not None:
                present = [k for k in keys if self.index.contains(k)]
                if present:
                    self.index.remove(np.asarray(present, dtype=np.uint64))
                if found:
                    self.index.add(np.asarray(found, dtype=np.uint64), vecs)
        # the log replays cheaply on the next open, so a few changes do not rewrite the file;
        # only the writer's connection saves it (a reader may not write beside the store)
        if last - self.saved >= SAVE_AFTER_CHANGES and store is self.store:
            self._save(last)
        self.seq = last
        return {"rebuilt": 0.0, "changed": float(len(changes)), "s": time.perf_counter() - t0}

    def _rebuild(self, progress: Progress | None, t0: float, store: Store) -> dict[str, float]:
        last = store.vector_seq()
        total = max(1, store.count_vectors(self.model))
        self.index = None
        for keys, vecs in store.iter_vectors(self.model):
            if self.index is None:
                self.index = self._new(vecs.shape[1])
            self.index.add(np.asarray(keys, dtype=np.uint64), vecs, threads=os.cpu_count() or 1)
            if progress:
                progress("index", len(self.index), total)
        if store is self.store:
            self._save(last)
        else:
            self.seq = last
        size = len(self.index) if self.index is not None else 0
        return {"rebuilt": 1.0, "vectors": float(size), "s": time.perf_counter() - t0}

    def _load(self) -> tuple[int, Index | None]:
        """(log position, index) from the files; (-1, None) when they are missing or unusable."""
        if not self.meta_path.exists():
            return -1, None
        try:
            meta = json.loads(self.meta_path.read_text())
            if meta.get("model") != self.model:
                return -1, None
            index = None
            if meta.get("dim"):
                index = self._new(int(meta["dim"]))
                index.load(str(self.path))
            return int(meta["seq"]), index
        except (OSError, ValueError, RuntimeError, KeyError):
            return -1, None  # a damaged cache is rebuilt from the store

    def _save(self, seq: int) -> None:
        dim = 0
        if self.index is not None:
            tmp = self.path.with_suffix(".tmp")
            self.index.save(str(tmp))
            os.replace(tmp, self.path)
            dim = self.index.ndim
        self.seq = self.saved = seq
        self.meta_path.write_text(json.dumps({"model": self.model, "dim": dim, "seq": seq}))

    def search(self, query: Vector, k: int, store: Store | None = None) -> list[tuple[int, float]]:
        """(store key, cosine similarity) of the k nearest vectors."""
        if self.store.indexes_vectors:
            where = store or self.store
            return where.nearest(self.model, query, k, self.expansion, self._small(where))
        with self._lock:
            self._sync(None, store or self.store)
            if self.index is None or len(self.index) == 0:
                return []
            exact = len(self.index) < self.exact_below
            matches = self.index.search(query.astype(np.float32), min(k, len(self.index)),
                                        exact=exact)
        return [
            (int(key), 1.0 - float(dist))
            for key, dist in zip(matches.keys, matches.distances, strict=True)
        ]
