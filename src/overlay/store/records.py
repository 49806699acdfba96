"""The plain records the store hands out: an open change, an event, a file, a stored edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from overlay.graph import Edge

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
    vault: str | None = None  # the id of the vault the file came from


@dataclass(frozen=True)
class Event:
    """One row of the append-only event log."""

    id: int
    ts: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class StoredEdge:
    """An edge as stored: with its row id, so a link can be re-resolved in place."""

    id: int
    edge: Edge
