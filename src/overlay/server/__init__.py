"""The HTTP face: an OpenAI-compatible chat endpoint, the overlay's own API, and the web UI,
served by one process over one open overlay (`overlay serve`)."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from typing import Any

from overlay import cancel
from overlay.config import ServerConfig
from overlay.engine import Overlay
from overlay.errors import ConfigError
from overlay.server.app import Stopping, create_app

__all__ = ["ServerConfig", "create_app", "serve"]


def serve(overlay: Overlay, config: ServerConfig, preload: bool = True, **uvicorn: Any) -> None:
    """Run the server until interrupted; the models load first, so no request waits for them.
    Ctrl-C or SIGTERM stops it within seconds even while it is busy: the model work in flight
    stops at its next step (no write is cut in half: each is one transaction)."""
    import uvicorn as uv

    if preload:
        _ = overlay.embedder, overlay.lm
    app = create_app(overlay, config)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host.strip("[]"), config.port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
    class Server(uv.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            cancel.STOPPING.cancel("the server is shutting down")  # stops model work first
            super().handle_exit(sig, frame)

    server = Server(uv.Config(Stopping(app), log_level="warning", timeout_graceful_shutdown=4,
                              **uvicorn))
    # after a clean stop uvicorn raises the signal it caught again; SIGTERM's default would
    # then end the process with 143, so for the length of the run it is a no-op (exit 0)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: None) if main else None
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn has shut down cleanly
            server.run(sockets=[sock])
    finally:
        app.state.guard.close()
        if main:
            signal.signal(signal.SIGTERM, previous)
