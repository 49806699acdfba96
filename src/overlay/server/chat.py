"""OpenAI-compatible routes: `GET /v1/models` and `POST /v1/chat/completions`.

The overlay is the model: the last user message is the question, the answer is what `ask`
gives, and the `overlay` field carries the trace id and citations. With `stream: true` the answer
arrives as server-sent events, one chunk per answer span (the selection has finished by then:
spans are the unit a citation belongs to), then a final chunk with the `overlay` field.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from overlay.engine import Overlay
from overlay.errors import ConfigError
from overlay.server.deps import Guard, ServerConfig, guard, server_config
from overlay.server.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatMessage,
    ChatRequest,
    Choice,
    Citation,
    ModelCard,
    ModelList,
    OverlayResult,
    SpanOut,
    Usage,
)
from overlay.trace import Trace

router = APIRouter(prefix="/v1", tags=["openai"])


def question_of(messages: list[ChatMessage]) -> str:
    """The last user message, its text parts joined."""
    for message in reversed(messages):
        if message.role != "user" or message.content is None:
            continue
        if isinstance(message.content, str):
            text = message.content
        else:
            text = "\n".join(p.text or "" for p in message.content if p.type == "text")
        if text.strip():
            return text
    raise ConfigError("messages: no user message with text to answer")


def result_of(overlay: Overlay, trace: Trace) -> OverlayResult:
    return OverlayResult(
        trace_id=trace.id,
        known=trace.known,
        goal=trace.goal,
        mode=trace.mode,
        citations=[
            Citation(node=c["node"], title=c["title"], source=c["source"], line=c["line"])
            for c in overlay.citations(trace)
            if not c["deleted"]
        ],
        spans=[SpanOut(**vars(s)) for s in trace.spans],
    )


@router.get("/models", response_model=ModelList)
def models(config: Annotated[ServerConfig, Depends(server_config)]) -> ModelList:
    """The one model this server offers: the overlay (over its configured LM)."""
    return ModelList(data=[ModelCard(id=config.model_name)])


def _answer(g: Guard, body: ChatRequest) -> tuple[Trace, OverlayResult, Usage]:
    question = question_of(body.messages)
    opts = body.overlay
    with g.use() as overlay:
        trace = overlay.ask(question, goal=opts.goal, mode=opts.mode, strict=opts.strict)
        result = result_of(overlay, trace)
        lm = overlay.lm
        prompt, completion = len(lm.encode(question)), len(lm.encode(trace.answer))
    return trace, result, Usage(prompt_tokens=prompt, completion_tokens=completion,
                                total_tokens=prompt + completion)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "JSON, or server-sent events when stream is true."}},
)
def chat_completions(
    body: ChatRequest,
    g: Annotated[Guard, Depends(guard)],
    config: Annotated[ServerConfig, Depends(server_config)],
) -> ChatCompletion | StreamingResponse:
    """Answer the last user message from the overlay, citing the notes behind each span."""
    trace, result, usage = _answer(g, body)
    created, cid = int(time.time()), f"chatcmpl-{trace.id}"
    if not body.stream:
        return ChatCompletion(
            id=cid,
            created=created,
            model=config.model_name,
            choices=[Choice(message=AssistantMessage(content=trace.answer))],
            usage=usage,
            overlay=result,
        )

    def events() -> Iterator[str]:
        def chunk(delta: dict[str, str], finish: str | None = None, **extra: object) -> str:
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": config.model_name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        pieces, at = [], 0
        for span in sorted(trace.spans, key=lambda s: s.start):
            if span.start >= at:  # the text between spans travels with the next one
                pieces.append(trace.answer[at : span.end])
                at = span.end
        pieces.append(trace.answer[at:])
        for piece in pieces:
            if piece:
                yield chunk({"content": piece})
        yield chunk({}, "stop", usage=usage.model_dump(), overlay=result.model_dump())
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
