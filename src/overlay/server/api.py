"""The overlay's own routes: search, nodes, traces, feedback, learn, undo, history, insights
(ingest has its own module, `ingest.py`). Each is a thin call into `Overlay`: reads on the
thread's reader, writes on the writer (see `Guard`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from overlay.server.deps import Guard, guard
from overlay.server.schemas import (
    DecisionIn,
    Event,
    FeedbackIn,
    Graph,
    HistoryRow,
    HitOut,
    Insight,
    Json,
    LearnIn,
    NodeOut,
    UndoIn,
)

router = APIRouter(prefix="/v1", tags=["overlay"])
G = Annotated[Guard, Depends(guard)]
Id = Annotated[str, "node or trace id (or a unique prefix)"]


@router.get("/search", response_model=list[HitOut])
def search(
    g: G,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="What to look for.")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    speaker: Annotated[str | None, Query(max_length=200, description=(
        "Only what this speaker said (conversations)."))] = None,
    since: Annotated[str | None, Query(max_length=100, description=(
        "From this date on: YYYY, YYYY-MM, YYYY-MM-DD or 'May 2023'."))] = None,
    until: Annotated[str | None, Query(max_length=100, description=(
        "Up to the end of this date."))] = None,
) -> list[dict[str, Any]]:
    """Hybrid search (words and meaning, then one hop along links); among conversations, by
    speaker and date, or by the time the query names."""
    overlay = g.reader()
    return [h.to_dict() for h in overlay.search(q, k, overlay.scope(q, speaker, since, until))]


@router.get("/nodes/{node_id}", response_model=NodeOut, response_model_by_alias=True)
def node(g: G, node_id: str) -> dict[str, Any]:
    """A node: text, source, links both ways, weights per goal, the events that touched it."""
    overlay = g.reader()
    data = overlay.show(node_id)
    data["weights"] = overlay.weights(data["id"])
    data["history"] = overlay.node_history(data["id"])
    return data


@router.get("/nodes/{node_id}/graph", response_model=Graph)
def node_graph(
    g: G, node_id: str, hops: Annotated[int, Query(ge=1, le=3)] = 1
) -> dict[str, Any]:
    """The neighbourhood of a node along resolved edges."""
    return g.reader().neighbourhood([node_id], hops)


@router.get("/traces/{trace_id}", response_model=Json)
def trace(g: G, trace_id: str) -> dict[str, Any]:
    """A stored trace: question, candidates with score terms, answer spans, timings."""
    return g.reader().trace(trace_id).to_dict()


@router.get("/traces/{trace_id}/graph", response_model=Graph)
def trace_graph(g: G, trace_id: str) -> dict[str, Any]:
    """The candidates a trace weighed and the edges among them."""
    overlay = g.reader()
    found = overlay.trace(trace_id)
    ids = [c.node_id for c in found.candidates if c.node_id]
    if not ids:
        return {"nodes": [], "edges": []}
    return overlay.neighbourhood(ids, hops=1, limit=len(ids) + 20)


@router.post("/feedback", response_model=Event)
def feedback(g: G, body: FeedbackIn) -> dict[str, Any]:
    """A verdict on a trace: counts toward the goal on the nodes it used (one per trace)."""
    with g.writing() as overlay:
        return overlay.feedback(body.trace_id, body.verdict, body.correct, body.goal)


@router.post("/learn", response_model=Event)
def learn(g: G, body: LearnIn) -> dict[str, Any]:
    """Add a verified statement; searchable and citable when this returns."""
    with g.writing() as overlay:
        return overlay.learn(body.text, goal=body.goal, links=body.links, source=body.source)


@router.post("/undo", response_model=Event)
def undo(g: G, body: UndoIn) -> dict[str, Any]:
    """Append the event that takes `event_id` back."""
    with g.writing() as overlay:
        return overlay.undo(body.event_id)


@router.get("/history", response_model=list[HistoryRow])
def history(g: G, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
    """The newest events, with whether each can be and has been undone."""
    return g.reader().history(limit)


@router.get("/insights", response_model=list[Insight])
def insights(
    g: G, min_asks: Annotated[int, Query(ge=1, le=1000)] = 3
) -> list[dict[str, Any]]:
    """Proposed links: unlinked nodes that keep being activated together."""
    return g.reader().insights(min_asks)


@router.post("/insights/{insight_id}", response_model=Event)
def decide(g: G, insight_id: str, body: DecisionIn) -> dict[str, Any]:
    """Accept (the link is learned) or reject a proposed link."""
    with g.writing() as overlay:
        return overlay.decide_insight(insight_id, body.accept)


@router.get("/stats", response_model=Json)
def stats(g: G) -> dict[str, Any]:
    """Counts of nodes, edges, events and vectors in the store."""
    data = g.reader().stats()
    data.pop("db", None)  # the server does not tell where its files are
    return data
