"""The overlay store: the only shared state. Callers see the `Store` protocol (one small
protocol per table family); backends are registered through the `register_stores` hook (the
SQLite one included)."""

from overlay.store.base import Change, Event, FileRecord, Store, StoredEdge, Vector
from overlay.store.migrations import MIGRATIONS, SCHEMA_VERSION
from overlay.store.sqlite import SQLiteStore

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Change",
    "Event",
    "FileRecord",
    "SQLiteStore",
    "Store",
    "StoredEdge",
    "Vector",
]
