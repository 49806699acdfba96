"""The one path every learning write takes: ops applied as one event, nodes they add embedded
and indexed, a selection's trace stored with the co-activations it counts.

New nodes are embedded *before* the write transaction opens (loading an embedder can take
seconds, and a transaction held that long would lock out every other writer); the
transaction itself only writes rows. The vector index catches up after the commit.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from overlay.errors import NotFoundError, StoreBusyError
from overlay.insights import coactivation_ops
from overlay.learning import Op, apply, undo_ops, undoable_after
from overlay.retrieve.dense import VectorIndex, embed_text
from overlay.retrieve.embed import Embedder, queries
from overlay.store.base import Change, Store, Vector
from overlay.trace import Trace

TRIES = 8


def retried(write: Callable[[], Change]) -> Change:
    """`write()`, again while the database gives it up for meeting another writer's change
    (PostgreSQL's deadlock or serialization failure; nothing of it was written). Its ops were
    made before, so the same change is tried, after a short random wait."""
    for attempt in range(TRIES - 1):
        try:
            return write()
        except StoreBusyError:
            time.sleep(random.uniform(0.01, 0.05) * 2**attempt)
    return write()


class Writer:
    """Commits changes to one store. `embedder` is called only when a change adds nodes or
    judges a question (a verdict's question is embedded once, for `overlay.evidence`), and
    `index` only when it adds nodes, so a signal operator never waits for a model to load."""

    def __init__(
        self,
        store: Store,
        embedder: Callable[[], Embedder | None],
        index: Callable[[], VectorIndex | None],
    ) -> None:
        self.store, self._embedder, self._index = store, embedder, index
        # one change at a time through this connection; hold it around a read-then-write
        # (a check and the change it allows) so no other thread's change comes between
        self.lock = threading.RLock()

    def commit(self, kind: str, ops: list[Op] | None, **payload: Any) -> int:
        """Apply `ops` as one event of `kind` (undoable when `ops` is not None); returns the
        event id."""
        added = [op["node"] for op in ops or [] if op["op"] == "node+"]
        judged = sorted({op["question"] for op in ops or [] if op["op"] == "judged"})
        embedder = self._embedder() if added or judged else None
        vectors: Vector | None = None
        if embedder is not None and added:
            vectors = embedder.embed([embed_text(n["title"], n["text"]) for n in added])
        if embedder is not None and judged:  # what a verdict bears on (overlay.evidence)
            have = self.store.question_vectors(judged, embedder.name)
            judged = [q for q in judged if q not in have]
        asked = queries(embedder, judged) if embedder is not None and judged else None
        if ops is not None:
            payload["ops"] = ops

        def write() -> Change:
            with self.lock, self.store.change(kind, **payload) as change:
                apply(self.store, ops or [])
                if embedder is not None and vectors is not None:
                    self.store.put_vectors([n["id"] for n in added], embedder.name, vectors)
                if embedder is not None and asked is not None:
                    self.store.put_question_vectors(judged, embedder.name, asked)
            return change

        change = retried(write)
        if vectors is not None:
            index = self._index()
            if index is not None:
                index.sync(None)
        return change.event_id or 0

    def record(self, trace: Trace) -> int:
        """Store a trace as one event; an ask also counts its co-activations (undoable)."""
        with self.lock:
            return self._record(trace)

    def _record(self, trace: Trace) -> int:
        ops = coactivation_ops(self.store, trace) if trace.kind == "ask" else []

        def write() -> Change:
            with self.store.change(trace.kind, trace=trace.id, question=trace.question[:200],
                                   **({"ops": ops} if ops else {})) as change:
                self.store.put_trace(trace.id, trace.question, trace.goal, trace.to_dict())
                apply(self.store, ops)
            return change

        return retried(write).event_id or 0

    def undo(self, event_id: int) -> dict[str, Any]:
        """Append the compensating event of `event_id`; state returns to what it was."""
        event = self.store.event(event_id)
        if event is None:
            raise NotFoundError(f"no event {event_id}; the history lists the events")
        ops = undo_ops(self.store, [event])
        new = self.commit("undo", ops, undoes=[event.id], what=event.kind)
        return {"event": new, "undid": event.id, "kind": event.kind}

    def revert(self, to: int) -> dict[str, Any]:
        """Undo every undoable event after `to` (newest first) as one event."""
        if self.store.event(to) is None:
            raise NotFoundError(f"no event {to}; the history lists the events")
        later = undoable_after(self.store, to)
        if not later:
            return {"event": None, "undid": []}
        ops = undo_ops(self.store, later)
        new = self.commit("revert", ops, undoes=[e.id for e in later], to=to)
        return {"event": new, "undid": [e.id for e in later]}
