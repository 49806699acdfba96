"""`POST /v1/ingest`: a file or folder inside the vault roots read into the overlay, on a
worker under its own time budget. The answer is the ingest's report; with `stream: true` it is
server-sent events instead: the progress of each stage (done, total, seconds so far and an
estimate of the seconds left), then the report, so a client can show how long a first ingest of
a large vault will take."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from overlay import cancel
from overlay.config import ServerConfig
from overlay.errors import AccessError, ConfigError, NotFoundError
from overlay.progress import Eta, Progress
from overlay.server.deps import Guard, guard, server_config, settled, stream_error
from overlay.server.schemas import IngestIn, Json

router = APIRouter(prefix="/v1", tags=["overlay"])
EVERY = 0.5  # seconds between two progress events of one stage (its last one always goes)


def inside_roots(path: str, roots: list[Path]) -> Path:
    """`path` resolved (symlinks followed) if it lies inside a vault root; else AccessError."""
    if not roots:
        raise AccessError("ingest is off: start the server with --vault DIR to allow a folder")
    if "\x00" in path:
        raise ConfigError("the path contains a NUL byte")
    target = Path(path)
    if not target.is_absolute():
        target = roots[0] / target
    try:
        resolved = target.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, an unreadable folder
        raise AccessError(f"{path}: cannot be resolved ({exc})") from None
    for root in roots:
        if resolved == root.resolve() or resolved.is_relative_to(root.resolve()):
            if not resolved.exists():
                raise NotFoundError(f"{path}: no such file or folder")
            return resolved
    raise AccessError(f"{path} is outside the vault roots this server may read")


def _ingest(g: Guard, target: Path, token: cancel.Token,
            progress: Progress | None = None) -> dict[str, Any]:
    with cancel.scope(token), g.apart() as overlay:  # chats and learns go on meanwhile
        return overlay.ingest([target], progress).to_dict()


@router.post(
    "/ingest",
    response_model=Json,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "The report as JSON, or server-sent events when stream "
                                    "is true."}},
)
async def ingest(
    g: Annotated[Guard, Depends(guard)],
    body: IngestIn,
    config: Annotated[ServerConfig, Depends(server_config)],
) -> dict[str, Any] | StreamingResponse:
    """Ingest a file or folder inside the configured vault roots (others are refused). It runs
    on a worker under its own time budget (`--ingest-seconds`) and stops between files when
    that passes or its client leaves; reads and asks go on meanwhile. With `stream: true`, each
    stage's progress comes as it goes, with the seconds it is estimated to need still."""
    target = inside_roots(body.path, config.roots)
    token = cancel.Token(time.monotonic() + config.ingest_seconds, parent=cancel.current())
    if body.stream:
        return StreamingResponse(_events(g, target, token), media_type="text/event-stream")
    report: dict[str, Any] = await anyio.to_thread.run_sync(lambda: _ingest(g, target, token))
    return report


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _events(g: Guard, target: Path, token: cancel.Token) -> AsyncIterator[str]:
    """`{"progress": …}` events (at most two a second per stage, and each stage's last), then
    `{"report": …}` or `{"error": …}`, then `[DONE]`. The client leaving cancels the ingest
    between files; what was written stays written."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    eta, sent = Eta(), dict[str, float]()

    def on_progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - sent.get(stage, -EVERY) < EVERY:
            return
        sent[stage] = now
        loop.call_soon_threadsafe(events.put_nowait, {"progress": eta(stage, done, total)})

    def work() -> dict[str, Any]:
        try:
            return _ingest(g, target, token, on_progress)
        finally:
            loop.call_soon_threadsafe(events.put_nowait, None)

    job = asyncio.ensure_future(anyio.to_thread.run_sync(work))
    try:
        while (event := await events.get()) is not None:
            yield _event(event)
        yield _event({"report": await job})
    except Exception as exc:  # the status is sent already: the stream says it, then ends
        yield stream_error(exc)
    finally:
        token.cancel("its client went away")
        job.add_done_callback(settled)
    yield "data: [DONE]\n\n"
