"""Graph vocabulary: nodes, edges, their kinds and stable ids.

This module imports nothing of the project, so every other layer can share these types
without pulling in storage, models or faces.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NodeKind(StrEnum):
    """What a node is: a file, a part of one, or a unit of meaning the user declared."""

    SOURCE = "source"
    BLOCK = "block"
    CONCEPT = "concept"
    FACT = "fact"
    PRINCIPLE = "principle"
    METHOD = "method"
    GOAL = "goal"
    MEMORY = "memory"


class EdgeKind(StrEnum):
    """Typed links between nodes (docs/design.md, "Vocabulary")."""

    LINKS_TO = "links_to"
    PART_OF = "part_of"
    SUPPORTS = "supports"
    CONTRADICTS = "contradicts"
    ANALOGY = "analogy"
    CAUSES = "causes"
    PRECEDES = "precedes"
    SERVES = "serves"
    DERIVED_FROM = "derived_from"


def stable_id(*parts: str) -> str:
    """A short, deterministic id from its parts (source path and anchor for ingested nodes)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).hexdigest()
    return digest


def new_id() -> str:
    """A fresh id for nodes that have no file behind them (learned statements)."""
    return uuid.uuid4().hex[:16]


def content_hash(text: str) -> str:
    """Hash of a node's text: tells whether a re-ingested block really changed."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(slots=True)
class Node:
    """One unit of meaning with its provenance (file, line span, content hash)."""

    id: str
    kind: NodeKind
    title: str
    text: str
    source_path: str | None = None
    line_start: int | None = None
    line_end: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    hash: str = ""

    def __post_init__(self) -> None:
        if not self.hash:
            self.hash = content_hash(self.title + "\n" + self.text)


@dataclass(slots=True)
class Edge:
    """A typed link. `dst` is None for a wikilink whose target is not (yet) in the overlay;
    `target` keeps the link's text so it can be resolved later."""

    src: str
    kind: EdgeKind
    dst: str | None
    target: str | None = None
    line: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Within:
    """Which nodes a search may return: those said by `speaker` (case aside) and dated in
    [`since`, `until`). Times are ISO 8601 strings ("2023-05-08T13:56"), which order as
    text; a node without a speaker or a time is outside any filter that names one."""

    speaker: str | None = None
    since: str | None = None
    until: str | None = None

    @property
    def empty(self) -> bool:
        return self.speaker is None and self.since is None and self.until is None

    def said_by(self, speaker: object) -> bool:
        """Whether a node's `speaker` is the one this filter names (any, when it names
        none)."""
        return self.speaker is None or (
            isinstance(speaker, str) and speaker.casefold() == self.speaker.casefold())

    def matches(self, node: Node) -> bool:
        time = node.meta.get("time")
        if not self.said_by(node.meta.get("speaker")):
            return False
        if self.since is None and self.until is None:
            return True
        if not isinstance(time, str):
            return False
        return ((self.since is None or time >= self.since)
                and (self.until is None or time < self.until))

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("speaker", self.speaker), ("since", self.since),
                                  ("until", self.until)) if v is not None}
