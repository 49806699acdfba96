"""Learning without weights: learn, feedback, undo, revert, merge — all as events of ops.

Every change the user can take back is a list of small ops stored in its event's payload
(`count`, `judged`, `episode`, `term`, `pair`, `node+`/`node-`, `edge+`/`edge-`, `coact`,
`mod`). Undo appends an event with the inverse ops, so state after undo equals state before,
exactly (a count row back at 0/0 is removed). Counts are sums, so feedback is O(1), merges
commute, and nothing is ever forgotten by a gradient step.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from overlay.errors import ConfigError, ConflictError, NotFoundError, StoreError
from overlay.graph import Edge, EdgeKind, Node, NodeKind, new_id
from overlay.store.base import Event, Store
from overlay.trace import LEARNED_TERMS, VERDICTS, Trace

Op = dict[str, Any]
OUTCOMES = {"good": (1, 0), "bad": (0, 1)}  # a verdict as (Δs, Δf)
_INVERSE = {
    "node+": "node-",
    "node-": "node+",
    "edge+": "edge-",
    "edge-": "edge+",
}


def node_op(node: Node) -> Op:
    return {
        "op": "node+",
        "node": {
            "id": node.id,
            "kind": node.kind.value,
            "title": node.title,
            "text": node.text,
            "source_path": node.source_path,
            "line_start": node.line_start,
            "line_end": node.line_end,
            "meta": node.meta,
        },
    }


def edge_op(src: str, dst: str, kind: EdgeKind, **meta: Any) -> Op:
    return {"op": "edge+", "edge": {"src": src, "dst": dst, "kind": kind.value, "meta": meta}}


def inverse(ops: Sequence[Op]) -> list[Op]:
    """The ops that take `ops` back, in reverse order."""
    out: list[Op] = []
    for op in reversed(ops):
        inv = dict(op)
        if op["op"] in _INVERSE:
            inv["op"] = _INVERSE[op["op"]]
        elif op["op"] in ("count", "judged", "episode", "term", "pair"):
            inv["s"], inv["f"] = -op["s"], -op["f"]
        elif op["op"] == "coact":
            for k in ("asks", "level", "rejected", "accepted"):
                inv[k] = -op.get(k, 0)
        elif op["op"] == "mod":
            inv["delta"] = -op["delta"]
        else:
            raise StoreError(f"unknown op {op['op']!r} in the event log")
        out.append(inv)
    return out


def touches(op: dict[str, Any], node_id: str) -> bool:
    """Whether one op changes something of `node_id` (its counts, itself, its edges)."""
    node = op.get("node")
    if isinstance(node, dict):
        node = node.get("id")
    edge = op.get("edge") or {}
    ends = (node, edge.get("src"), edge.get("dst"), op.get("a"), op.get("b"), op.get("target"))
    return node_id in ends


def _ledger_row(op: Op) -> tuple[Any, ...]:
    """The row a ledger op adds (`overlay.store.ledger`'s order of columns)."""
    kind = op["op"]
    if kind == "count":
        return op["node"], op["goal"], op["s"], op["f"]
    if kind == "judged":
        return op["node"], op["goal"], op["question"], op["s"], op["f"]
    if kind == "episode":
        return op["goal"], op["s"], op["f"]
    if kind == "term":
        return op["goal"], op["term"], op["s"], op["f"]
    if kind == "pair":
        return op["a"], op["b"], op["goal"], op["s"], op["f"]
    if kind == "coact":
        return (op["a"], op["b"], op.get("asks", 0), op.get("level", 0.0),
                op.get("rejected", 0), op.get("accepted", 0))
    return op["name"], op.get("target", ""), op["delta"]  # mod


LEDGER: dict[str, Callable[[Store], Callable[[list[Any]], None]]] = {
    "count": lambda s: s.add_counts, "judged": lambda s: s.add_judged,
    "episode": lambda s: s.add_episodes, "term": lambda s: s.add_term_counts,
    "pair": lambda s: s.add_pair_counts, "coact": lambda s: s.add_coactivations,
    "mod": lambda s: s.add_modulation}


def apply(store: Store, ops: Sequence[Op]) -> list[str]:
    """Apply ops inside the caller's change; returns ids of nodes added (to embed). Ledger
    ops (sums of deltas, which commute) are written a kind at a time, each kind in one batch,
    before the next op that adds or removes a node or an edge."""
    added: list[str] = []
    counted = [op["node"] for op in ops if op["op"] in ("count", "judged")]
    counted += [op[k] for op in ops if op["op"] == "pair" for k in ("a", "b")]
    exists = set(store.get_nodes(counted)) if counted else set()
    pending: dict[str, list[Any]] = {}

    def flush() -> None:
        for kind, rows in pending.items():
            LEDGER[kind](store)(rows)
        pending.clear()

    for op in ops:
        kind = op["op"]
        if kind in LEDGER:
            # a count's node (or a pair's) must exist: one added earlier in this change does;
            # the rows of a deleted node went with it
            ends = [op[k] for k in ("node", "a", "b") if k in op and kind != "coact"]
            if all(e in exists or e in added for e in ends):
                pending.setdefault(kind, []).append(_ledger_row(op))
            continue
        flush()
        if kind == "node+":
            data = op["node"]
            node = Node(data["id"], NodeKind(data["kind"]), data["title"], data["text"],
                        data.get("source_path"), data.get("line_start"), data.get("line_end"),
                        data.get("meta") or {})
            store.put_nodes([node])
            added.append(node.id)
        elif kind == "node-":
            store.delete_nodes([op["node"]["id"]])
        elif kind in ("edge+", "edge-"):
            e = op["edge"]
            edge = Edge(e["src"], EdgeKind(e["kind"]), e["dst"], meta=e.get("meta") or {})
            if kind == "edge-":
                store.delete_edge(edge)
            elif store.get_node(edge.src) and edge.dst and store.get_node(edge.dst):
                store.add_edges([edge])
        else:
            raise StoreError(f"unknown op {kind!r}")
    flush()
    return added


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def learned_node(text: str, source: str | None, goal: str | None, **meta: Any) -> Node:
    text = " ".join(text.split())
    if not text:
        raise ConfigError("the statement to learn is empty")
    title = text if len(text) <= 80 else text[:77].rsplit(" ", 1)[0] + "…"
    info = {
        "role": "learned",
        "learned": True,
        "source": source,
        "goal": goal,
        "by": getpass.getuser(),
        "at": _now(),
        **meta,
    }
    return Node(
        new_id(),
        NodeKind.FACT,
        title,
        text,
        None,
        None,
        None,
        {k: v for k, v in info.items() if v is not None},
    )


def learn_ops(store: Store, node: Node, goal: str | None, links: Sequence[str]) -> list[Op]:
    ops = [node_op(node)]
    for link in links:
        if store.get_node(link) is None:
            raise NotFoundError(f"link {link!r}: no such node; a search shows node ids")
        ops.append(edge_op(node.id, link, EdgeKind.LINKS_TO))
    if goal:
        ops.append({"op": "count", "node": node.id, "goal": goal, "s": 1, "f": 0})
    return ops


def refuse_second_verdict(store: Store, trace_id: str) -> None:
    """One verdict per trace: a live (not undone) feedback event must be undone first."""
    live = [e.id for e in store.feedback_events(trace_id) if not store.is_undone(e.id)]
    if live:
        raise ConflictError(
            f"trace {trace_id} already has feedback (event {live[-1]}); "
            f"`overlay undo {live[-1]}` first to change it"
        )


def feedback_ops(
    store: Store, trace: Trace, verdict: str, correct: str | None, goal: str | None
) -> tuple[list[Op], list[str], Node | None]:
    """Ops for feedback on a trace: the goal's episode, counts of the nodes it used (a
    statement answer's lead statement; every node a composed answer cites), each score term's
    evidence, and a learned correction."""
    if verdict not in VERDICTS:
        raise ConfigError(f"verdict {verdict!r} is not {' or '.join(map(repr, VERDICTS))}")
    goal = goal or trace.goal
    used = trace.cited or [c.node_id for c in trace.chosen if c.node_id]
    if trace.kind == "ask" and trace.mode == "statement":
        used = used[:1]  # a statement answer is judged by the statement it leads with
    present = store.get_nodes(used)
    gone = [n for n in used if n not in present]
    if not present and not correct:
        raise NotFoundError(
            f"trace {trace.id} used no node that still exists ({', '.join(gone) or 'none'}); "
            "nothing to count; give the correct answer to teach it"
        )
    ds, df = OUTCOMES[verdict]
    ops: list[Op] = [{"op": "episode", "goal": goal, "s": ds, "f": df}]  # the goal's base rate
    ops += [
        {"op": "count", "node": n, "goal": goal, "s": ds, "f": df} for n in used if n in present
    ]
    # the same verdict per judged question: it is evidence for questions like this one
    # (overlay.evidence), not for every question the node serves
    ops += [{"op": "judged", "node": n, "goal": goal, "question": trace.question, "s": ds,
             "f": df} for n in used if n in present]
    # each score term's evidence: the verdict on its own pick — the answer's verdict where it
    # ranked the answer first, the opposite where it preferred another candidate
    ops += [{"op": "term", "goal": goal, "term": t, "s": ds if led else df, "f": df if led else ds}
            for t, led in preferences(trace).items()]
    node = None
    if correct:
        node = learned_node(
            correct, f"correction of trace {trace.id}", goal, trace=trace.id, about=trace.question
        )
        ops += [node_op(node), {"op": "count", "node": node.id, "goal": goal, "s": 1, "f": 0}]
        relation = EdgeKind.CONTRADICTS if verdict == "bad" else EdgeKind.SUPPORTS
        ops += [edge_op(node.id, n, relation, trace=trace.id) for n in used if n in present]
    return ops, gone, node


def preferences(trace: Trace) -> dict[str, bool]:
    """Per score term of an ask: True where it ranked the answer first (ties count), False
    where it preferred another candidate; a term equal for every candidate preferred nothing
    and is left out."""
    answer = next((c for c in trace.candidates if c.rank == 1), None)
    if trace.kind != "ask" or answer is None or len(trace.candidates) < 2:
        return {}
    out = {}
    for term in LEARNED_TERMS:
        values = [c.terms.get(term, 0.0) for c in trace.candidates]
        if max(values) > min(values):
            out[term] = answer.terms.get(term, 0.0) == max(values)
    return out


def undo_ops(store: Store, events: Sequence[Event]) -> list[Op]:
    """Inverse ops of `events` (newest first); refuses events that cannot be taken back."""
    ops: list[Op] = []
    for event in sorted(events, key=lambda e: -e.id):
        if "ops" not in event.payload:
            raise ConfigError(
                f"event {event.id} ({event.kind}) cannot be undone: "
                + (
                    "edit or delete the file and ingest again"
                    if event.kind == "ingest"
                    else "it changed no learned state"
                )
            )
        if store.is_undone(event.id):
            raise ConflictError(
                f"event {event.id} is already undone; undo event's undo to redo it"
            )
        ops += inverse(event_ops(event.kind, event.payload))
    return ops


def event_ops(kind: str, payload: dict[str, Any]) -> list[Op]:
    """An event's ops as they act now: a feedback event written before the goal's episodes
    were counted (store schema 4 and older) gets the episode op it would have had."""
    ops: list[Op] = list(payload["ops"])
    if kind == "feedback" and not any(op["op"] == "episode" for op in ops):
        goals = [op["goal"] for op in ops if op["op"] == "count"]
        if goals and payload.get("verdict") in OUTCOMES:
            ds, df = OUTCOMES[payload["verdict"]]
            ops.insert(0, {"op": "episode", "goal": goals[0], "s": ds, "f": df})
    return ops


def undoable_after(store: Store, event_id: int) -> list[Event]:
    """The events after `event_id` that can still be taken back (not undos, not undone)."""
    undone = store.undone()
    return [
        e
        for e in store.events_after(event_id)
        if "ops" in e.payload and e.id not in undone and e.kind not in ("undo", "revert")
    ]


def event_key(event: Event) -> str:
    """A content identity for an event, the same in every copy of a store."""
    blob = json.dumps([event.ts, event.kind, event.payload], sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()


def units(store: Store) -> dict[str, list[Op]]:
    """Every change this store holds, by identity: its own undoable events and the events
    it imported by merging (with their original identities), each with its ops."""
    out: dict[str, list[Op]] = {}
    undone = store.undone()
    for event in store.events_after(0):
        # live contributions only: an undone change and the undo that took it back cancel,
        # so neither travels (an undo made after another store imported a change stays here)
        if event.id in undone or event.kind in ("undo", "revert"):
            continue
        if event.kind == "merge":
            for unit in event.payload.get("imported", []):
                out[unit["key"]] = unit["ops"]
        elif "ops" in event.payload:
            out[event_key(event)] = event_ops(event.kind, event.payload)
    return out


def _where(store: Store) -> str:
    return str(store.path.resolve() if isinstance(store.path, Path) else store.path)


def merge_ops(store: Store, other: Store) -> tuple[list[Op], list[dict[str, Any]]]:
    """Import the changes another overlay holds that this one does not.

    A merge is a union of event logs: each change (learn, feedback, undo, …) is imported once
    by its content identity, wherever it came from, so merging is commutative, associative
    and idempotent, and copies of one store share their common past instead of doubling it."""
    if _where(store) == _where(other):
        raise ConfigError(f"{other.path} is this overlay itself")
    have = units(store)
    imported: list[dict[str, Any]] = [
        {"key": key, "ops": ops} for key, ops in units(other).items() if key not in have
    ]
    return [op for unit in imported for op in unit["ops"]], imported
