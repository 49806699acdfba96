"""Request and response bodies of the HTTP API, so the OpenAPI schema says exactly what is sent.

The chat shapes follow OpenAI's chat completions API (what chat clients speak); the overlay's
trace id and citations travel in an `overlay` extension field that such clients keep and ignore.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from overlay.config import TEXT_CHARS

Text = str
MESSAGE_CHARS = TEXT_CHARS  # one chat message; the question in it is then held to its token limit


def _whole(value: Any) -> None:
    """Refuse text that holds a lone surrogate (valid JSON, but no Unicode text): every
    string of a body, at any depth."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text holds a lone surrogate (e.g. \\ud800), which is not "
                             "Unicode text") from None
    elif isinstance(value, BaseModel):
        for item in vars(value).values():
            _whole(item)
        for item in (value.__pydantic_extra__ or {}).values():
            _whole(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _whole(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _whole(key)
            _whole(item)


class Body(BaseModel):
    """A request body: its strings are checked to be Unicode text (422 if not)."""

    @model_validator(mode="after")
    def _text(self) -> Body:
        _whole(self)
        return self


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong, in one line.")
    type: str = Field(description="invalid_request_error, not_found, conflict, forbidden, ...")
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """Every error, in OpenAI's shape."""

    error: ErrorDetail


# ------------------------------------------------------------------ chat
class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field("text", max_length=100)
    text: str | None = Field(None, max_length=MESSAGE_CHARS)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: Annotated[str, Field(max_length=MESSAGE_CHARS)] | Annotated[
        list[ContentPart], Field(max_length=100)] | None = None


class OverlayOptions(BaseModel):
    """How the overlay answers (the `overlay` extension of a chat request)."""

    model_config = ConfigDict(extra="forbid")
    goal: str = Field("answer", min_length=1, max_length=200, description="Goal counted toward.")
    mode: Literal["statement", "compose"] = Field(
        "statement", description="statement: cite notes; compose: write pulled toward them."
    )
    strict: bool = Field(False, description="compose only: every word from the notes.")
    speaker: str | None = Field(None, max_length=200,
                                description="Only what this speaker said (conversations).")
    since: str | None = Field(None, max_length=100, description=(
        "Only memories from this date on (YYYY, YYYY-MM, YYYY-MM-DD or 'May 2023'). Without "
        "since/until, a time the question names is used."))
    until: str | None = Field(None, max_length=100,
                              description="Only memories up to the end of this date.")


class ChatRequest(Body):
    """OpenAI chat completion request; unknown sampling fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field("overlay", max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    overlay: OverlayOptions = Field(default_factory=OverlayOptions)


class Citation(BaseModel):
    node: str
    title: str
    source: str | None = None
    line: int | None = None
    speaker: str | None = Field(None, description="A conversation turn's speaker.")
    session: str | None = Field(None, description="... its session.")
    time: str | None = Field(None, description="... and when it was said (ISO 8601).")


class SpanOut(BaseModel):
    start: int
    end: int
    text: str
    nodes: list[str]
    origin: str


class OverlayResult(BaseModel):
    """What the overlay adds to a chat answer: the trace and what each span came from."""

    trace_id: str
    known: bool
    goal: str
    mode: str
    citations: list[Citation]
    spans: list[SpanOut]


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    overlay: OverlayResult


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "overlay"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# --------------------------------------------------------------- overlay
class FeedbackIn(Body):
    model_config = ConfigDict(extra="forbid")
    trace_id: str = Field(min_length=1, max_length=64)
    verdict: Literal["good", "bad"]
    correct: str | None = Field(None, max_length=20_000, description="The right answer.")
    goal: str | None = Field(None, max_length=200)


class LearnIn(Body):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20_000)
    goal: str | None = Field(None, max_length=200)
    links: list[str] = Field(default_factory=list, max_length=50)
    source: str | None = Field(None, max_length=500)


class UndoIn(Body):
    model_config = ConfigDict(extra="forbid")
    event_id: int = Field(ge=1, le=2**62)


class IngestIn(Body):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, max_length=4096, description="A folder or file on the server.")
    stream: bool = Field(False, description="Answer with server-sent events: each stage's "
                         "progress with an estimate of the seconds left, then the report.")


class DecisionIn(Body):
    model_config = ConfigDict(extra="forbid")
    accept: bool


class Event(BaseModel):
    """What a change wrote: its event id (for undo) and what it did."""

    model_config = ConfigDict(extra="allow")
    event: int | None


class HitOut(BaseModel):
    id: str
    kind: str
    title: str
    snippet: str
    source: str | None
    line: int | None
    score: float
    parts: dict[str, float]
    via: list[str]
    speaker: str | None = None
    time: str | None = None


class Weight(BaseModel):
    """A node's counts toward one goal and Kharkevich's information from them."""

    goal: str
    s: int = Field(description="Verdicts that reached the goal while this node was used.")
    f: int = Field(description="Verdicts that did not.")
    episodes_s: int = Field(description="The goal's episodes that reached it (all verdicts).")
    episodes_f: int = Field(description="The goal's episodes that did not.")
    p0: float = Field(description="The chance of reaching the goal at all (its base rate).")
    p1: float = Field(description="The chance of reaching it when this node is used.")
    bits: float = Field(description="log2(p1/p0): > 0 helps, < 0 hurts.")


class HistoryRow(BaseModel):
    id: int
    ts: str
    kind: str
    what: str
    undoable: bool
    undone: bool


class NodeOut(BaseModel):
    """A node with its provenance, links both ways, weights per goal and its history."""

    id: str
    kind: str
    title: str
    text: str
    source: str | None
    lines: list[int | None]
    hash: str
    meta: dict[str, Any]
    out: list[dict[str, Any]]
    into: list[dict[str, Any]] = Field(alias="in")
    weights: list[Weight]
    history: list[HistoryRow]

    model_config = ConfigDict(populate_by_name=True)


class GraphNode(BaseModel):
    id: str
    title: str
    kind: str


class GraphEdge(BaseModel):
    src: str
    dst: str
    kind: str


class Graph(BaseModel):
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class Insight(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    a: str
    b: str
    asks: int = Field(description="Distinct asks that co-activated the pair.")
    level: float = Field(description="Mean of the weaker activation in those asks.")
    bits: float = Field(description="Information toward `goal` that co-activating the pair "
                        "carried in judged asks (0 before any verdict).")
    goal: str
    verdicts: int = Field(description="Judged asks behind `bits`.")


class Health(BaseModel):
    ok: bool
    version: str


Json = dict[str, Any]
