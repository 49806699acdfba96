"""Finding what a person typed: a node by id or a short prefix of it, a note by its title, a
trace by id or prefix. Each miss or ambiguity says what to type instead."""

from __future__ import annotations

from overlay.errors import NotFoundError
from overlay.graph import Node
from overlay.store.base import Store
from overlay.trace import Trace


def node(store: Store, ref: str) -> Node:
    """A node by id or unique id prefix (at least 4 characters)."""
    found = store.get_node(ref)
    if found is not None:
        return found
    matches = store.find_nodes(ref, limit=5) if len(ref) >= 4 else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise NotFoundError(
            f"id {ref!r} is ambiguous: {', '.join(m.id for m in matches)}; type more of it"
        )
    raise NotFoundError(f"no node with id {ref!r}; a search shows node ids")


def note(store: Store, ref: str) -> Node:
    """A node by id or id prefix, or else a note (a whole file) by its title."""
    try:
        return node(store, ref)
    except NotFoundError:
        titled = [n for n in store.iter_nodes()
                  if n.meta.get("role") == "source" and n.title.lower() == ref.lower()]
        if len(titled) == 1:
            return titled[0]
        several = " (several notes have that title; give an id)" if titled else ""
        raise NotFoundError(f"no node or note titled {ref!r}{several}") from None


def trace(store: Store, ref: str) -> Trace:
    """A stored trace by id or unique prefix."""
    data = store.get_trace(ref)
    if data is None:
        ids = store.find_traces(ref, 3) if len(ref) >= 4 else []
        if len(ids) > 1:
            raise NotFoundError(f"trace id {ref!r} is ambiguous; type more of it")
        data = store.get_trace(ids[0]) if ids else None
    if data is None:
        raise NotFoundError(f"no trace {ref!r}; every ask gives the id of its trace")
    return Trace.from_dict(data)
