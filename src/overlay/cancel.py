"""Stopping work that nobody waits for any more: a request whose client went away, a request
past its time budget, everything when the server shuts down.

A `Token` travels with the work through a context variable, so no signature has to carry it:
the server sets one per request, and the places where model work can stop between steps (the
scheduler before a batch and between generated tokens, ingest between files) call `check()`.
Work that has not reached a write stops with `CancelledError`, and nothing is recorded.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from overlay.errors import CancelledError


class Token:
    """Cancelled when `cancel()` is called, `deadline` (a monotonic time) has passed, or its
    `parent` is cancelled (a request's client left: the budget of the work inside it too)."""

    def __init__(self, deadline: float | None = None, parent: Token | None = None) -> None:
        self.deadline = deadline
        self.parent = parent
        self.reason = ""
        self._event = threading.Event()

    def cancel(self, reason: str = "its client went away") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.cancel("it ran past its time budget")
        if self.parent is not None and self.parent.cancelled:
            self.cancel(self.parent.reason)
        return self._event.is_set()

    def check(self) -> None:
        if self.cancelled:
            raise CancelledError(f"stopped: {self.reason}")


_current: contextvars.ContextVar[Token | None] = contextvars.ContextVar("overlay_cancel",
                                                                       default=None)
STOPPING = Token()  # cancelled once, when the process shuts down


def current() -> Token | None:
    """The token of the work this thread is doing, if any."""
    return _current.get()


@contextmanager
def scope(token: Token) -> Iterator[Token]:
    """Run the block as work that `token` can stop."""
    reset = _current.set(token)
    try:
        yield token
    finally:
        _current.reset(reset)


def check() -> None:
    """Raise CancelledError if the current work was cancelled (or everything is stopping)."""
    STOPPING.check()
    token = _current.get()
    if token is not None:
        token.check()
