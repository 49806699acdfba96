"""The HTTP face: an OpenAI-compatible chat endpoint, the overlay's own API, and the web UI,
served by one process over one open overlay (`overlay serve`)."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from overlay.engine import Overlay
from overlay.errors import ConfigError
from overlay.server.app import create_app
from overlay.server.deps import ServerConfig

__all__ = ["ServerConfig", "create_app", "serve"]


def serve(overlay: Overlay, config: ServerConfig, preload: bool = True, **uvicorn: Any) -> None:
    """Run the server until interrupted; the models load first, so no request waits for them."""
    import uvicorn as uv

    app = create_app(overlay, config)
    if preload:
        _ = overlay.embedder, overlay.lm
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host.strip("[]"), config.port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
    server = uv.Server(uv.Config(app, log_level="warning", **uvicorn))
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn has shut down cleanly
        server.run(sockets=[sock])
