"""The FastAPI application: security, limits, errors, one shared overlay, the web UI.

One `Overlay` serves every request through its `Guard` (deps.py): reads and asks run
concurrently on per-thread readers, writes one at a time on the writer. Under `overlay serve`,
`Stopping` is the outermost layer, so a shutdown cuts off work in flight with a 503, not a trace.
Security by default: loopback only unless a token is set; with a token every route but
`/health` needs it (as `Authorization: Bearer T`, or the cookie the UI gets from `/?token=T`);
Host headers are checked on loopback (DNS rebinding); bodies are capped; `/v1/ingest` reads only
inside the configured vault roots.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from overlay import __version__, cancel
from overlay.config import ServerConfig, is_loopback
from overlay.engine import Overlay
from overlay.patterns import linear
from overlay.server import api, chat, ingest
from overlay.server.deps import ERRORS, Guard, error
from overlay.server.schemas import ErrorBody, Health

COOKIE = "overlay_token"
OPEN_PATHS = ("/health", "/favicon.ico")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in [
        (400, "The request cannot be done as asked."),
        (401, "A token is required (Authorization: Bearer T)."),
        (403, "Outside what this server may read."),
        (404, "No such node, trace, event or insight."),
        (409, "Conflicts with the current state."),
        (408, "The body did not arrive in time."),
        (413, "The body, or the question in it, is over a limit the server sets."),
        (503, "The request was stopped: past its time budget, or the server is stopping."),
        (422, "The body or a parameter does not fit the schema."),
    ]
}


class Requests:
    """The outermost layer of the application: each request's body and its cancellation.

    The body is read first (at most `limit` bytes of it, declared or streamed in chunks:
    413 past that) and replayed to the application. The request then runs under its own
    `cancel.Token`: a watcher waits for the client to go away and cancels the token, so the
    model work of any request, streaming or not, stops at its next step. The application
    still sees the disconnect when it asks for it."""

    def __init__(self, app: ASGIApp, limit: int, seconds: float = 10.0) -> None:
        self.app, self.limit, self.seconds = app, limit, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with anyio.move_on_after(self.seconds) as reading:  # a slow client holds nothing long
            messages = await self._body(scope, receive, send)
        if reading.cancelled_caught:
            await error(408, f"the request body did not arrive within {self.seconds:g} s",
                        "timeout")(scope, receive, send)
            return
        if messages is None:
            return
        token = cancel.Token()
        gone = anyio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            token.cancel("its client went away")
            gone.set()

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            await gone.wait()
            return {"type": "http.disconnect"}

        with cancel.scope(token):
            async with anyio.create_task_group() as group:
                group.start_soon(watch)
                try:
                    await self.app(scope, replay, send)
                finally:
                    group.cancel_scope.cancel()

    async def _body(self, scope: Scope, receive: Receive, send: Send) -> list[Message] | None:
        """The request's body messages, or None once a 413 has been sent."""
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_big = error(413, f"request body over {self.limit} bytes", "request_too_large")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await too_big(scope, receive, send)
            return None
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            seen += len(message.get("body", b""))
            if seen > self.limit:
                await too_big(scope, receive, send)
                return None
            if not message.get("more_body", False):
                return messages


class Stopping:
    """The outermost layer under `overlay serve`: a request still running when shutdown's grace
    period ends is cancelled by uvicorn, and answers 503 "the server is shutting down" instead of
    reaching uvicorn's handler, which would print a traceback for it."""

    def __init__(self, app: ASGIApp, stopping: cancel.Token = cancel.STOPPING) -> None:
        self.app, self.stopping = app, stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:
            if not self.stopping.cancelled:
                raise
            if scope["type"] == "http" and not started:
                with contextlib.suppress(Exception):  # the client may be gone too
                    await error(503, "the server is shutting down", "cancelled")(
                        scope, receive, send)


HOST = linear(r"(?i)(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+))(?::\d{1,5})?")


def host_of(header: str) -> str:
    """The host name in a Host header, without its port: `[::1]:8765` → `::1`,
    `LOCALHOST` → `localhost`; "" for a header that is not a host and port (one with user
    info, `localhost:80@evil.com`, above all)."""
    m = HOST.fullmatch(header.strip().lower())
    return (m.group("v6") or m.group("name") or "") if m is not None else ""


def _static() -> Path:
    return Path(str(resources.files("overlay.server") / "static"))


def _refusal(request: Request, config: ServerConfig) -> Response | None:
    """What answers a request instead of its route: a Host that is not this machine (DNS
    rebinding), a missing token, or the UI's first visit with one (kept as a cookie)."""
    if is_loopback(config.host):  # DNS rebinding: a loopback server answers loopback names
        host = host_of(request.headers.get("host", ""))
        if not host:
            return error(400, "a Host header naming a host (and a port) is required",
                         "invalid_request_error")
        if not is_loopback(host):
            return error(403, f"host {host!r} is not this machine", "forbidden")
    path = request.url.path
    if config.token and path not in OPEN_PATHS:
        given = request.headers.get("authorization", "")
        bearer = given[7:] if given.lower().startswith("bearer ") else ""
        query = request.query_params.get("token", "") if path == "/" else ""
        offered = bearer or request.cookies.get(COOKIE, "") or query
        if not hmac.compare_digest(offered.encode(), config.token.encode()):
            return error(401, "a token is required: Authorization: Bearer T", "unauthorized")
        if query:  # the UI's first visit: keep the token in a same-site cookie
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(COOKIE, config.token, httponly=True, samesite="strict")
            return response
    return None


def create_app(overlay: Overlay, config: ServerConfig | None = None) -> FastAPI:
    """The application around one open overlay (the caller owns and closes it)."""
    config = config or ServerConfig()
    config.check()
    app = FastAPI(
        title="Overlay",
        version=__version__,
        description="Knowledge kept outside the model: an OpenAI-compatible chat endpoint that "
        "answers from the overlay with citations, and the overlay's own API.",
        responses=ERROR_RESPONSES,
    )
    overlay.models.schedule()  # concurrent asks share the model's forward passes
    app.state.guard = Guard(overlay)
    app.state.config = config

    for exc_type, status, kind in ERRORS:

        def handler(
            request: Request, exc: Exception, status: int = status, kind: str = kind
        ) -> Response:
            return error(status, str(exc), kind)

        app.add_exception_handler(exc_type, handler)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error(422, f"{where}: {first.get('msg')}" if where else str(first.get("msg")),
                     "invalid_request_error")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kinds = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        return error(exc.status_code, str(exc.detail), kinds.get(exc.status_code, "error"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        return error(500, f"internal error: {type(exc).__name__}", "internal_error")

    @app.middleware("http")
    async def guard_request(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        return _refusal(request, config) or await call_next(request)

    @app.get("/health", response_model=Health, tags=["server"])
    def health() -> Health:
        """Liveness; the only route that needs no token."""
        return Health(ok=True, version=__version__)

    app.include_router(chat.router)
    app.include_router(api.router)
    app.include_router(ingest.router)

    static = _static()

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static / "index.html")

    app.mount("/static", StaticFiles(directory=static), name="static")
    app.add_middleware(Requests, limit=config.max_body, seconds=config.body_seconds)
    return app
