"""The progress callback every long step accepts: `progress(stage, done, total)`.

Faces turn it into a bar (the CLI), events with an estimate of the time left (the server's
streamed ingest, through `Eta`), or ignore it; the core only calls it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Progress = Callable[[str, int, int], None]


def quiet(stage: str, done: int, total: int) -> None:
    """A progress callback that shows nothing."""


class Eta:
    """A stage's progress with the seconds it has taken and an estimate of the seconds it
    still needs (its rate so far over what is left; None until something is done). A stage's
    clock starts at its first report."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> dict[str, Any]:
        now = self.clock()
        began = self.started.setdefault(stage, now)
        elapsed = max(now - began, 0.0)
        left = max(total - done, 0)
        eta = round(elapsed / done * left, 1) if done > 0 else None
        return {"stage": stage, "done": done, "total": total,
                "elapsed_s": round(elapsed, 1), "eta_s": eta}
