"""A live server on loopback for tests: uvicorn in a thread on a free port, stopped cleanly."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from overlay import Overlay
from overlay.server import ServerConfig, create_app


@contextmanager
def live_server(overlay: Overlay, config: ServerConfig | None = None) -> Iterator[str]:
    """Serve `overlay` on 127.0.0.1:<free port>; yields the base URL. Unless `config` says
    otherwise, a request has an hour: a loaded machine must not turn a test of what a server
    answers into a test of how fast it answers (the budget's own tests set theirs)."""
    config = config or ServerConfig(request_seconds=3600)
    app = create_app(overlay, config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
