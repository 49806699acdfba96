"""A client for OpenAI-compatible model servers (vLLM, SGLang, Ollama, llama.cpp, TEI, …):
one place for the base URL, the API key (read from an environment variable, never a flag),
timeouts, retries with backoff on 429 and 503, and errors that say in one line what is wrong —
the server is down, the model name is wrong, the prompt is over the context.

The LM backend (`overlay.lm.served`) and the embedder (`overlay.retrieve.embed`) both talk
through it.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import httpx

from overlay.errors import ModelError

RETRY_STATUS = (429, 502, 503, 504)
CONTEXT_WORDS = ("maximum context length", "context length", "too long", "max_model_len",
                 "longer than")


def is_url(name: str) -> bool:
    return name.startswith(("http://", "https://"))


class Server:
    """One OpenAI-compatible endpoint, e.g. `http://127.0.0.1:8000/v1`, and the model on it."""

    def __init__(
        self,
        url: str,
        model: str | None = None,
        key_env: str = "OVERLAY_API_KEY",
        timeout: float = 120.0,
        retries: int = 4,
    ) -> None:
        if not is_url(url):
            raise ModelError(f"{url!r} is not an http(s) URL of an OpenAI-compatible server")
        self.base = url.rstrip("/")
        self.root = self.base.removesuffix("/v1")
        self.requested, self.retries = model, retries
        key = os.environ.get(key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), headers=headers)

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ models
    @cached_property
    def cards(self) -> list[dict[str, Any]]:
        """The models the server says it serves (GET /v1/models)."""
        found = self.request("GET", "/models").get("data") or []
        return [c for c in found if isinstance(c, dict) and c.get("id")]

    @cached_property
    def model(self) -> str:
        """The model to use: the one asked for (checked), or the only one served."""
        ids = [c["id"] for c in self.cards]
        if self.requested:
            if ids and self.requested not in ids:
                raise ModelError(
                    f"{self.base} serves {', '.join(ids)}, not {self.requested!r}; "
                    "give one of those with --model-name"
                )
            return self.requested
        if len(ids) != 1:
            raise ModelError(
                f"{self.base} serves {len(ids)} models ({', '.join(ids) or 'none'}); "
                "choose one with --model-name"
            )
        return str(ids[0])

    @property
    def context(self) -> int | None:
        """The served model's context length, when the server says it (vLLM does)."""
        for card in self.cards:
            if card["id"] == self.model and card.get("max_model_len"):
                return int(card["max_model_len"])
        return None

    # ---------------------------------------------------------------- requests
    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, root: bool = False
    ) -> dict[str, Any]:
        """One JSON request under /v1 (or the server root with `root`), retried with backoff
        on 429/5xx gateway errors; any other failure is one ModelError."""
        url = (self.root if root else self.base) + path
        for attempt in range(self.retries + 1):
            try:
                response = self.client.request(method, url, json=body)
            except httpx.TimeoutException:
                raise ModelError(f"{url}: no answer within the timeout; the server is busy "
                                 "or the request is too large") from None
            except httpx.HTTPError as exc:
                raise ModelError(f"cannot reach {self.base} ({_reason(exc)}); is the model "
                                 "server running?") from None
            if response.status_code in RETRY_STATUS and attempt < self.retries:
                time.sleep(_backoff(attempt, response))
                continue
            return self._json(response, url)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def stream(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Server-sent events of a streamed completion, one parsed chunk at a time."""
        url = self.base + path
        for attempt in range(self.retries + 1):
            try:
                with self.client.stream("POST", url, json={**body, "stream": True}) as response:
                    if response.status_code in RETRY_STATUS and attempt < self.retries:
                        time.sleep(_backoff(attempt, response))
                        continue
                    if response.status_code >= 400:
                        response.read()
                        self._json(response, url)
                    for line in response.iter_lines():
                        if line.startswith("data:"):
                            data = line[5:].strip()
                            if data == "[DONE]":
                                return
                            yield json.loads(data)
                    return
            except httpx.TimeoutException:
                raise ModelError(f"{url}: the stream stalled past the timeout") from None
            except httpx.HTTPError as exc:
                raise ModelError(f"cannot reach {self.base} ({_reason(exc)}); is the model "
                                 "server running?") from None

    def _json(self, response: httpx.Response, url: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code < 400:
            return data if isinstance(data, dict) else {"data": data}
        message = _message(data) or response.text[:200] or response.reason_phrase
        lowered = message.lower()
        if response.status_code == 404 and "model" in lowered:
            ids = ", ".join(c["id"] for c in self.cards) or "none"
            raise ModelError(f"{self.base}: {message} (it serves: {ids}; see --model-name)")
        if response.status_code in (400, 413) and any(w in lowered for w in CONTEXT_WORDS):
            raise ModelError(f"{self.base}: the prompt is over the model's context: {message}")
        if response.status_code in (401, 403):
            raise ModelError(f"{self.base} refused the key ({message}); set OVERLAY_API_KEY")
        raise ModelError(f"{url}: HTTP {response.status_code}: {message}")


def _message(data: Any) -> str:
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or "")
        return str(data.get("message") or data.get("detail") or err or "")
    return ""


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc).strip()
    return text.split("] ")[-1] if text else type(exc).__name__


def _backoff(attempt: int, response: httpx.Response) -> float:
    """Seconds to wait before the next try: Retry-After if the server said, else exponential
    with jitter (0.5, 1, 2, 4 s …)."""
    after = response.headers.get("retry-after", "")
    if after.replace(".", "", 1).isdigit():
        return min(float(after), 30.0)
    return float(0.5 * 2**attempt * (0.75 + random.random() / 2))
