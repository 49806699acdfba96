"""The progress callback every long step accepts: `progress(stage, done, total)`.

Faces turn it into a bar (the CLI) or ignore it; the core only calls it."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]


def quiet(stage: str, done: int, total: int) -> None:
    """A progress callback that shows nothing."""
