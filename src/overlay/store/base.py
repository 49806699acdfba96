"""The store protocol: what callers may ask of any overlay database.

Callers depend on this protocol only, so another database (a server one for many writers)
can be added through the `register_stores` hook without touching them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from overlay.graph import Edge, EdgeKind, Node

Vector = npt.NDArray[np.float32]


@dataclass
class Change:
    """An open change: one transaction that ends with exactly one event in the log.

    Fill `payload` while writing; it is stored with the event at commit."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    event_id: int | None = None


@dataclass(frozen=True)
class FileRecord:
    """What the store remembers of an ingested file, to make re-ingest incremental."""

    path: str
    source_id: str
    hash: str
    size: int
    repaired: str | None
    mtime_ns: int = 0


@dataclass(frozen=True)
class Event:
    id: int
    ts: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class StoredEdge:
    """An edge as stored: with its row id, so a link can be re-resolved in place."""

    id: int
    edge: Edge


class Store(Protocol):
    """One overlay: nodes, edges, counts, events, traces, lexical index and vectors."""

    path: Path
    migrated_from: int | None

    def close(self) -> None: ...

    def change(self, kind: str, **payload: Any) -> AbstractContextManager[Change]:
        """Open a transaction; on success one event of `kind` is appended and committed."""
        ...

    # nodes
    def put_nodes(self, rows: Sequence[tuple[Node, str, str]]) -> None:
        """Insert or update nodes with their lexical terms (body, title); a changed text
        drops the node's stale vector so it is embedded again."""
        ...

    def get_node(self, node_id: str) -> Node | None: ...
    def get_nodes(self, node_ids: Sequence[str]) -> dict[str, Node]: ...
    def nodes_of_source(self, source_path: str) -> list[Node]: ...
    def delete_nodes(self, node_ids: Sequence[str]) -> None: ...
    def set_source_path(self, old: str, new: str) -> None: ...
    def iter_nodes(self) -> Iterator[Node]: ...

    # edges
    def add_edges(self, edges: Iterable[Edge]) -> None: ...
    def delete_edges_from(self, node_ids: Sequence[str]) -> None: ...
    def link_edges(self, unresolved_only: bool = False) -> list[StoredEdge]: ...
    def link_counts(self) -> tuple[int, int]: ...
    def set_edge_dst(self, edge_id: int, dst: str | None) -> None: ...
    def edges_of(self, node_id: str) -> list[Edge]: ...
    def neighbours(
        self, node_ids: Sequence[str], kinds: Sequence[EdgeKind] | None = None
    ) -> list[tuple[str, str, str]]: ...

    # files
    def file_record(self, path: str) -> FileRecord | None: ...
    def files(self) -> list[FileRecord]: ...
    def put_file(self, record: FileRecord) -> None: ...

    # lexical
    def lexical_search(self, terms: Sequence[str], limit: int) -> list[tuple[str, float]]: ...

    def doc_freqs(self, terms: Sequence[str]) -> tuple[int, dict[str, int]]: ...
    def find_nodes(self, prefix: str, limit: int = 10) -> list[Node]: ...

    # vectors
    def put_vectors(self, node_ids: Sequence[str], model: str, vectors: Vector) -> None: ...
    def nodes_missing_vectors(self, model: str, limit: int | None = None) -> list[Node]: ...
    def count_vectors(self, model: str) -> int: ...
    def count_missing_vectors(self, model: str) -> int: ...
    def iter_vectors(
        self, model: str, batch: int = 50_000
    ) -> Iterator[tuple[list[int], Vector]]: ...
    def vector_changes(self, since: int) -> tuple[int, list[tuple[int, str]]]: ...
    def vector_seq(self) -> int: ...
    def vector_models(self) -> list[str]: ...
    def get_vectors(self, keys: Sequence[int], model: str) -> tuple[list[int], Vector]: ...
    def ids_of_keys(self, keys: Sequence[int]) -> dict[int, str]: ...

    # traces and counts
    def put_trace(
        self, trace_id: str, question: str, goal: str, payload: dict[str, Any]
    ) -> None: ...
    def get_trace(self, trace_id: str) -> dict[str, Any] | None: ...
    def find_traces(self, prefix: str, limit: int = 10) -> list[str]: ...
    def recent_traces(self, limit: int = 20) -> list[tuple[str, str, str, str]]: ...
    def counts(self, node_ids: Sequence[str], goal: str) -> dict[str, tuple[int, int]]: ...
    def goal_totals(self, goal: str) -> tuple[int, int]: ...

    # log and summary
    def events(self, limit: int = 50) -> list[Event]: ...
    def stats(self) -> dict[str, Any]: ...
