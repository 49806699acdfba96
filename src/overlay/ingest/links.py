"""Resolve link targets to notes the way Obsidian does: by path, file name or alias,
case-insensitively; `#Heading` and `#^block-id` to the block inside the note."""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable

from overlay.graph import Node

NOTE_SUFFIXES = (".md", ".markdown", ".txt", ".json")


def strip_suffix(path: str) -> str:
    lower = path.lower()
    for suffix in NOTE_SUFFIXES:
        if lower.endswith(suffix):
            return path[: -len(suffix)]
    return path


def anchor_key(anchor: str) -> str:
    """Headings match ignoring case, spaces and Markdown emphasis, as Obsidian's do."""
    if anchor.startswith("^"):
        return anchor
    return " ".join(anchor.replace("*", "").replace("_", " ").lower().split())


def anchors_of(nodes: Iterable[Node]) -> dict[str, str]:
    """anchor key → node id, for the sections and block ids of one note."""
    out: dict[str, str] = {}
    for node in nodes:
        if node.meta.get("block_id"):
            out.setdefault("^" + str(node.meta["block_id"]), node.id)
        if node.meta.get("role") == "section":
            out.setdefault(anchor_key(node.title), node.id)
    return out


class Resolver:
    """Maps link text to a note's path. Build it from every note's path and aliases."""

    def __init__(self, notes: Iterable[tuple[str, list[str]]]) -> None:
        self.by_path: dict[str, str] = {}
        self.by_stem: dict[str, list[str]] = defaultdict(list)
        self.by_alias: dict[str, list[str]] = defaultdict(list)
        for path, aliases in notes:
            bare = strip_suffix(path).lower()
            self.by_path[path.lower()] = path
            self.by_path.setdefault(bare, path)
            self.by_stem[posixpath.basename(bare)].append(path)
            for alias in aliases:
                self.by_alias[alias.strip().lower()].append(path)

    def resolve(self, target: str, from_path: str, style: str = "wiki") -> str | None:
        """The path of the note `target` names, seen from the note at `from_path`."""
        t = target.strip().replace("\\", "/").lower().lstrip("/")
        if not t:
            return None
        if style == "path":
            return self.by_path.get(t) or self.by_path.get(strip_suffix(t))
        bare = strip_suffix(t)
        vault = from_path.split("/", 1)[0].lower()
        exact = self.by_path.get(f"{vault}/{bare}") or self.by_path.get(f"{vault}/{t}")
        if exact:
            return exact
        if "/" in bare:
            found = [
                p for p in self.by_path.values() if strip_suffix(p).lower().endswith("/" + bare)
            ]
        else:
            found = self.by_stem.get(bare, [])
        if not found:
            found = self.by_alias.get(t, []) or self.by_alias.get(bare, [])
        return _closest(sorted(set(found)), from_path)


def _closest(paths: list[str], from_path: str) -> str | None:
    """Several notes share a name: prefer the linking note's vault, then folder, then the
    shortest path (Obsidian's "shortest path when possible")."""
    if not paths:
        return None
    vault, folder = from_path.split("/", 1)[0], posixpath.dirname(from_path)

    def rank(p: str) -> tuple[int, int, int, str]:
        return (p.split("/", 1)[0] != vault, posixpath.dirname(p) != folder, p.count("/"), p)

    return min(paths, key=rank)


def make_anchor_lookup(nodes_of: Callable[[str], list[Node]]) -> Callable[[str, str], str | None]:
    """A cached `(path, anchor) -> node id` lookup over the store's nodes of each note."""
    cache: dict[str, dict[str, str]] = {}

    def lookup(path: str, anchor: str) -> str | None:
        if path not in cache:
            cache[path] = anchors_of(nodes_of(path))
        return cache[path].get(anchor_key(anchor))

    return lookup
