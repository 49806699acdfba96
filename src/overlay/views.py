"""What the faces show, built in one place: a node with its edges, its weights and history,
a neighbourhood graph, the link table, the event history, a trace's citations, the stats.

Each view is plain data (dicts and lists) read from the store; the CLI renders it with Rich,
the server returns it as JSON, and both get the same fields.
"""

from __future__ import annotations

from typing import Any

from overlay.graph import Node
from overlay.learning import touches
from overlay.store.base import Event, Store
from overlay.trace import Trace
from overlay.weights import (
    MAX_TERM_BITS,
    TERM_SHRINK,
    information,
    probabilities,
    term_weight,
)


def node(store: Store, found: Node) -> dict[str, Any]:
    """A node with its provenance and its edges, each with the other end's title."""
    edges = store.edges_of(found.id)
    others = store.get_nodes([x for e in edges for x in (e.src, e.dst) if x and x != found.id])

    def title(i: str | None) -> str | None:
        return others[i].title if i in others else None

    return {
        "id": found.id,
        "kind": found.kind.value,
        "title": found.title,
        "text": found.text,
        "source": found.source_path,
        "lines": [found.line_start, found.line_end],
        "hash": found.hash,
        "meta": found.meta,
        "out": [
            {"kind": e.kind.value, "to": e.dst, "title": title(e.dst), "target": e.target,
             "line": e.line}
            for e in edges
            if e.src == found.id
        ],
        "in": [
            {"kind": e.kind.value, "from": e.src, "title": title(e.src), "line": e.line}
            for e in edges
            if e.dst == found.id and e.src != found.id
        ],
    }


def weights(store: Store, node_id: str) -> list[dict[str, Any]]:
    """The node's counts toward each goal, the goal's episodes, the two chances and the
    information they carry, in bits."""
    out = []
    for goal, (s, f) in store.counts_of(node_id).items():
        s_j, f_j = store.goal_totals(goal)
        p0, p1 = probabilities(s, f, s_j, f_j)
        out.append({"goal": goal, "s": s, "f": f, "episodes_s": s_j, "episodes_f": f_j,
                    "p0": round(p0, 4), "p1": round(p1, 4), "bits": information(s, f, s_j, f_j)})
    return out


def term_weights(store: Store, prior: dict[str, float], gain: dict[str, float],
                 goal: str | None) -> list[dict[str, Any]]:
    """Per goal (every goal with verdicts, or `goal`) and score term: the prior weight, the
    verdicts on the term's own picks, p0, p1, the bits and the weight in force."""
    goals = [goal] if goal else sorted(store.all_episodes())
    out = []
    for g in goals:
        s_j, f_j = store.goal_totals(g)
        evidence = store.term_counts(g)
        for term, w in prior.items():
            s, f = evidence.get(term, (0, 0))
            p0, p1 = probabilities(s, f, s_j, f_j, TERM_SHRINK)
            bits = information(s, f, s_j, f_j, TERM_SHRINK) if s_j and f_j else 0.0
            out.append({
                "goal": g, "term": term, "prior": w, "picks_good": s, "picks_bad": f,
                "episodes_s": s_j, "episodes_f": f_j, "p0": round(p0, 4), "p1": round(p1, 4),
                "bits": round(bits, 4), "clamped": abs(bits) > MAX_TERM_BITS,
                "gain": gain.get(term, 0.0),
                "weight": round(term_weight(w, s, f, s_j, f_j, gain.get(term, 0.0)), 4),
            })
    return out


def history(store: Store, events: list[Event]) -> list[dict[str, Any]]:
    """Event rows for the history table: what each did, and whether it can be undone."""
    undone = store.undone()
    rows = []
    for e in events:
        p = e.payload
        what = (p.get("operator") or p.get("question") or p.get("node") or p.get("trace")
                or p.get("path") or "")
        if e.kind in ("undo", "revert"):
            what = "undoes " + ", ".join(map(str, p.get("undoes", [])))
        rows.append(
            {
                "id": e.id,
                "ts": e.ts,
                "kind": e.kind,
                "what": str(what)[:80],
                "undoable": "ops" in p,
                "undone": e.id in undone,
            }
        )
    return rows


def node_history(store: Store, node_id: str, limit: int = 2000) -> list[dict[str, Any]]:
    """Events among the last `limit` whose ops touch this node, newest first."""
    events = [
        e
        for e in store.events(limit)
        if any(touches(op, node_id) for op in e.payload.get("ops", []))
    ]
    return history(store, events)


def neighbourhood(
    store: Store, node_ids: list[str], hops: int = 1, limit: int = 60
) -> dict[str, Any]:
    """Nodes within `hops` resolved edges of `node_ids` (either way), and the edges between
    them in their own direction."""
    seen = list(dict.fromkeys(node_ids))
    frontier = list(seen)
    for _ in range(hops):
        found = store.neighbours(frontier)
        frontier = []
        for _from, other, _kind in found:
            if other not in seen and len(seen) < limit:
                seen.append(other)
                frontier.append(other)
    nodes = store.get_nodes(seen)
    return {
        "nodes": [
            {"id": i, "title": nodes[i].title, "kind": nodes[i].kind.value}
            for i in seen
            if i in nodes
        ],
        "edges": [
            {"src": a, "dst": b, "kind": k}
            for a, b, k in store.edges_among([i for i in seen if i in nodes])
        ],
    }


def links(store: Store, unresolved: bool = False) -> list[dict[str, Any]]:
    """Every link as written (or only those that point at nothing), with where it is."""
    edges = [s.edge for s in store.link_edges() if not unresolved or s.edge.dst is None]
    nodes = store.get_nodes(list({e.src for e in edges} | {e.dst for e in edges if e.dst}))
    out = []
    for e in edges:
        src = nodes.get(e.src)
        dst = nodes.get(e.dst) if e.dst else None
        out.append(
            {
                "kind": e.kind.value,
                "from": e.src,
                "source": src.source_path if src else None,
                "line": e.line,
                "target": e.target,
                "anchor": e.meta.get("anchor"),
                "to": e.dst,
                "to_title": dst.title if dst else None,
            }
        )
    out.sort(key=lambda r: (r["source"] or "", r["line"] or 0, r["target"] or ""))
    return out


def citations(store: Store, trace: Trace) -> list[dict[str, Any]]:
    """The nodes a trace's answer cites, in order of first use, with title and place; a node
    deleted since has `deleted: true` and no title."""
    nodes = store.get_nodes(trace.cited)
    out = []
    for node_id in trace.cited:
        n = nodes.get(node_id)
        out.append(
            {
                "node": node_id,
                "title": n.title if n else None,
                "source": n.source_path if n else None,
                "line": n.line_start if n else None,
                "deleted": n is None,
                **_said(n),
            }
        )
    return out


def _said(node: Node | None) -> dict[str, Any]:
    """A conversation turn's speaker, session and time, where the node is one."""
    meta = node.meta if node is not None else {}
    return {k: meta[k] for k in ("speaker", "session", "time") if meta.get(k) is not None}


def sources(store: Store) -> dict[str, dict[str, Any]]:
    """Every ingested file: its content hash and the ids of the note nodes it made."""
    out: dict[str, dict[str, Any]] = {r.path: {"hash": r.hash, "nodes": []} for r in store.files()}
    for n in store.iter_nodes():
        if n.source_path in out and n.meta.get("role") == "source":
            out[n.source_path]["nodes"].append(n.id)
    return out


def stats(store: Store, embedder: str) -> dict[str, Any]:
    """Counts of files, nodes, edges, vectors, events and traces, where the store is, and
    which embedder is configured."""
    data = store.stats()
    data["db"] = str(store.path)
    data["embedder"] = embedder
    return data
