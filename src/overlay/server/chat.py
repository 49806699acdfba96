"""OpenAI-compatible routes: `GET /v1/models` and `POST /v1/chat/completions`.

The overlay is the model: the last user message is the question, the answer is what `ask`
gives, and the `overlay` field carries the trace id and citations. With `stream: true` a
composed answer arrives token by token as the model writes it, a statement answer span by span
once it is chosen, then a final chunk with the `overlay` field.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from overlay import cancel
from overlay.config import ServerConfig
from overlay.engine import Overlay
from overlay.errors import ConfigError
from overlay.server.deps import Guard, guard, server_config, settled, stream_error
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
            Citation(**{k: v for k, v in c.items() if k != "deleted"})
            for c in overlay.citations(trace)
            if not c["deleted"]
        ],
        spans=[SpanOut(**vars(s)) for s in trace.spans],
    )


@router.get("/models", response_model=ModelList)
def models(config: Annotated[ServerConfig, Depends(server_config)]) -> ModelList:
    """The one model this server offers: the overlay (over its configured LM)."""
    return ModelList(data=[ModelCard(id=config.model_name)])


def _usage(overlay: Overlay, question: str, answer: str) -> Usage:
    lm = overlay.models.scorer
    prompt, completion = len(lm.encode(question)), len(lm.encode(answer))
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=prompt + completion)


def _ask(g: Guard, body: ChatRequest, token: cancel.Token,
         on_text: Callable[[str], None] | None = None) -> tuple[Trace, OverlayResult, Usage]:
    """The ask, on this thread's reader, as work `token` can stop."""
    question, opts = question_of(body.messages), body.overlay
    overlay = g.reader()
    with cancel.scope(token):
        overlay.check_question(question)  # the length first: nothing reads a refused question
        scope = overlay.scope(question, opts.speaker, opts.since, opts.until)
        trace = overlay.ask(question, goal=opts.goal, mode=opts.mode, strict=opts.strict,
                            on_text=on_text, scope=scope)
    return trace, result_of(overlay, trace), _usage(overlay, question, trace.answer)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "JSON, or server-sent events when stream is true."}},
)
async def chat_completions(
    body: ChatRequest,
    g: Annotated[Guard, Depends(guard)],
    config: Annotated[ServerConfig, Depends(server_config)],
) -> ChatCompletion | StreamingResponse:
    """Answer the last user message from the overlay, citing the notes behind each span. With
    `stream: true`, a composed answer streams token by token as it is written; the citations
    come in the last chunk. A request past the server's time budget, or whose client goes
    away, stops its model work and records nothing."""
    question = question_of(body.messages)  # no question: refused before any work
    # the request's own token (cancelled when its client goes away) with this budget on top
    token = cancel.Token(time.monotonic() + config.request_seconds, parent=cancel.current())
    created = int(time.time())
    if body.stream:  # what can be refused is refused now, while a status can still say so
        await anyio.to_thread.run_sync(lambda: g.reader().check_question(question))
        return StreamingResponse(_events(g, body, token, created, config.model_name),
                                 media_type="text/event-stream")
    trace, result, usage = await anyio.to_thread.run_sync(lambda: _ask(g, body, token))
    return ChatCompletion(
        id=f"chatcmpl-{trace.id}",
        created=created,
        model=config.model_name,
        choices=[Choice(message=AssistantMessage(content=trace.answer))],
        usage=usage,
        overlay=result,
    )


def _chunk(cid: str, created: int, model: str, delta: dict[str, str],
           finish: str | None = None, **extra: object) -> str:
    data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _events(
    g: Guard, body: ChatRequest, token: cancel.Token, created: int, model: str
) -> AsyncIterator[str]:
    """Server-sent events: each written piece as it comes (compose), or each span once the
    selection is done (statement), then the last chunk with usage and citations. The client
    leaving closes this generator, and that cancels the work."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue[str | None] = asyncio.Queue()

    def on_text(piece: str) -> None:
        loop.call_soon_threadsafe(pieces.put_nowait, piece)

    def work() -> tuple[Trace, OverlayResult, Usage]:
        try:
            return _ask(g, body, token, on_text if body.overlay.mode == "compose" else None)
        finally:
            loop.call_soon_threadsafe(pieces.put_nowait, None)

    cid = f"chatcmpl-{uuid.uuid4().hex[:16]}"
    yield _chunk(cid, created, model, {"role": "assistant", "content": ""})
    job = asyncio.ensure_future(anyio.to_thread.run_sync(work))
    try:
        sent = ""
        while (piece := await pieces.get()) is not None:
            sent += piece
            yield _chunk(cid, created, model, {"content": piece})
        trace, result, usage = await job
        for piece in _rest(trace, sent):
            yield _chunk(cid, created, model, {"content": piece})
        yield _chunk(cid, created, model, {}, "stop", usage=usage.model_dump(),
                     overlay=result.model_dump())
    except Exception as exc:  # the status is sent already: the stream says it, then ends
        yield stream_error(exc)
    finally:
        token.cancel("its client went away")
        job.add_done_callback(settled)
    yield "data: [DONE]\n\n"


def _rest(trace: Trace, sent: str) -> list[str]:
    """What is still to send once the answer is done: its spans (statement mode sends them
    now), or the part of a composed answer its pieces did not already carry."""
    if sent and trace.answer.startswith(sent):
        return [trace.answer[len(sent) :]] if len(trace.answer) > len(sent) else []
    pieces, at = [], 0
    for span in sorted(trace.spans, key=lambda s: s.start):
        if span.start >= at:  # the text between spans travels with the next one
            pieces.append(trace.answer[at : span.end])
            at = span.end
    pieces.append(trace.answer[at:])
    return [p for p in pieces if p]
