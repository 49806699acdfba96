"""Live servers on loopback for tests and benchmarks: uvicorn in a thread on a free port, or
`overlay serve` processes over one store; each stopped cleanly."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def servers(db: str, count: int, *extra: str) -> Iterator[list[str]]:
    """`count` `overlay serve` processes over one store (with the hashing embedder and the
    fake LM unless `extra` says otherwise), stopped and waited for after."""
    exe = Path(sys.executable).with_name("overlay")
    ports = [free_port() for _ in range(count)]
    args = list(extra) or ["--embedder", "hashing", "--model", "fake"]
    procs = [subprocess.Popen([str(exe), "serve", "--db", db, "--port", str(p), *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for p in ports]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for base, proc in zip(bases, procs, strict=True):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if httpx.get(base + "/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
