"""What every route depends on: the server's settings, the shared overlay behind its guard,
and the one error shape. Routers import this module, never the application itself."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from overlay.config import ServerConfig
from overlay.engine import Overlay
from overlay.errors import (
    AccessError,
    CancelledError,
    ConflictError,
    LimitError,
    NotFoundError,
    OverlayError,
    StoreBusyError,
)
from overlay.server.schemas import ErrorBody

# each error the overlay raises on purpose, as an HTTP status and an OpenAI-style error type
ERRORS: list[tuple[type[OverlayError], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (AccessError, 403, "forbidden"),
    (ConflictError, 409, "conflict"),
    (LimitError, 413, "request_too_large"),
    (CancelledError, 503, "cancelled"),
    (StoreBusyError, 503, "busy"),
    (OverlayError, 400, "invalid_request_error"),
]


def kind_of(exc: Exception) -> str:
    """The error type `exc` is reported as (`internal_error` for one not raised on purpose)."""
    return next((kind for cls, _, kind in ERRORS if isinstance(exc, cls)), "internal_error")


def stream_error(exc: Exception) -> str:
    """The event a stream ends with when its work fails after the status was sent: the
    message of an error raised on purpose, only the type of any other."""
    message = str(exc) if isinstance(exc, OverlayError) else \
        f"internal error: {type(exc).__name__}"
    return f"data: {json.dumps({'error': {'message': message, 'type': kind_of(exc)}})}\n\n"


def settled(job: asyncio.Future[Any]) -> None:
    """Retrieve a finished job's outcome, so asyncio has nothing to complain of (a stream
    closed early leaves no unretrieved error)."""
    if not job.cancelled():
        job.exception()


class Guard:
    """The overlay the server was given (the writer) and, per worker thread, a reader over
    the same store.

    Reads — search, nodes, graphs, traces, history, weights, insights, stats — go to the calling
    thread's reader, with its own read-only connection: they never wait for a write or the
    model. Asks run on a reader too (the model through its scheduler, or a served model
    concurrently), and their traces are written through the writer. Writes — learn, feedback,
    undo, insight decisions — run on the writer, one at a time; an ingest runs apart, on an
    overlay of its own (`apart`)."""

    def __init__(self, overlay: Overlay) -> None:
        self.overlay = overlay
        self._local = threading.local()
        self._readers: list[Overlay] = []
        self._lock = threading.Lock()

    def reader(self) -> Overlay:
        """This thread's reader (opened on its first request)."""
        found: Overlay | None = getattr(self._local, "reader", None)
        if found is None:
            found = self._local.reader = self.overlay.reader()
            with self._lock:
                self._readers.append(found)
        return found

    @contextmanager
    def writing(self) -> Iterator[Overlay]:
        """The writer, held for one whole write (its checks and its change)."""
        with self.overlay.commits.lock:
            yield self.overlay

    @contextmanager
    def apart(self) -> Iterator[Overlay]:
        """An overlay of its own for a long write (an ingest): its own connection and write
        path over the same store and models. Asks, learns and verdicts go on meanwhile through
        the writer; they wait at most for one file's transaction, never for the whole ingest.
        The vector index catches up with what it wrote on its next search."""
        base = self.overlay
        other = Overlay(settings=base.settings, plugins=base.plugins, models=base.models,
                        create=False)
        try:
            yield other
        finally:
            other.close()

    def close(self) -> None:
        with self._lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()


def error(status: int, message: str, kind: str) -> JSONResponse:
    body = ErrorBody.model_validate({"error": {"message": message, "type": kind}})
    return JSONResponse(body.model_dump(), status_code=status)


def guard(request: Request) -> Guard:
    """The dependency every route uses to reach the overlay."""
    found: Guard = request.app.state.guard
    return found


def server_config(request: Request) -> ServerConfig:
    found: ServerConfig = request.app.state.config
    return found
