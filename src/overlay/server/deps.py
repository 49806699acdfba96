"""What every route depends on: the server's settings, the shared overlay behind its guard,
and the one error shape. Routers import this module, never the application itself."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse

from overlay.engine import Overlay
from overlay.errors import ConfigError
from overlay.server.schemas import ErrorBody


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class ServerConfig:
    """How the server listens and what it may touch."""

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    roots: list[Path] = field(default_factory=list)  # folders /v1/ingest may read
    max_body: int = 1 << 20  # bytes per request body
    model_name: str = "overlay"

    def check(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(
                f"refusing to listen on {self.host} without --token: anyone who can reach it "
                "could read and change the overlay (loopback needs no token)"
            )
        if self.token is not None and len(self.token) < 8:
            raise ConfigError("--token must be at least 8 characters")
        for root in self.roots:
            if not root.is_dir():
                raise ConfigError(f"--vault {root}: no such folder")


class Guard:
    """The one overlay and the lock that serializes its use."""

    def __init__(self, overlay: Overlay) -> None:
        self.overlay = overlay
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[Overlay]:
        with self._lock:
            yield self.overlay


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
