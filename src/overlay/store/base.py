"""The store protocol: what callers may ask of any overlay database.

It is composed of one small protocol per table family — `NodeStore` (nodes, edges, files,
text search), `VectorStore`, `Ledger` (counts, co-activations, modulation) and `Log` (changes,
events, traces) — so a second backend implements four small pieces, and is registered through
the `register_stores` hook without touching any caller.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from overlay.store.copy import Tables
from overlay.store.ledger import Ledger
from overlay.store.log import Log
from overlay.store.nodes import NodeStore
from overlay.store.records import Change, Event, FileRecord, StoredEdge, Vector
from overlay.store.vectors import VectorStore

__all__ = ["Change", "Event", "FileRecord", "Store", "StoredEdge", "Vector"]


class Store(NodeStore, VectorStore, Ledger, Log, Tables, Protocol):
    """One overlay: nodes, edges, counts, events, traces, lexical index and vectors."""

    path: Path | str  # a file, or the address of a database server (its password left out)
    migrated_from: int | None

    def close(self) -> None: ...
    def check_writable(self) -> None:
        """Raise StoreError, saying what to do, when this store cannot be written here."""
        ...
    def lock(self, name: str) -> AbstractContextManager[None]:
        """A lock on this store held across processes (an ingest holds `ingest`)."""
        ...
    def copy_to(self, path: Path) -> None:
        """A consistent copy of the whole store in one new file."""
        ...
    def scratch(self, empty: bool = False) -> AbstractContextManager[Path | str]:
        """The address of a scratch copy of this store (an empty store with `empty`) of the
        same backend, removed afterwards: where an evaluation learns and judges."""
        ...

    def stats(self) -> dict[str, Any]: ...
