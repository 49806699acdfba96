"""How many threads torch uses inside one operation, chosen per task on purpose.

torch's default — one intra-op thread per core for every operation — helps a large batch when
the machine is otherwise idle and hurts everything when it is not: a single query embedding on
two cores took 20 ms with one thread and 138–212 ms with the default under a load of about 4.
So each torch task says what it is: a small one (one query embedding) runs on one thread; a
large one (a scoring pass, an ingest's embeddings) on the cores shared among the large tasks
running at that moment. torch's setting is one for the whole process: while a large task runs
it is that share (a query embedding beside a scoring pass must not halve the pass, which is
what every ask waits for); with only small tasks running it is one thread.

The cores are those the process may run on, capped by the `threads` setting (`limit`) or else
by `$OMP_NUM_THREADS`: a person who gives the overlay one core gets one core.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SMALL, LARGE = 1, 0  # a task's ask: one thread, or a fair share of the cores

_lock = threading.Lock()
_ids = itertools.count()
_running: dict[int, int] = {}  # task → the threads it asked for (0: a share of the cores)
_last = threading.local()
_limit: list[int | None] = [None]  # the `threads` setting, where one was given


def limit(count: int | None) -> None:
    """Cap the cores torch may use at `count` (None: `$OMP_NUM_THREADS`, else all)."""
    with _lock:
        _limit[0] = count
        if _running:
            _apply()


def _environment() -> int | None:
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def cores() -> int:
    """The cores torch may use: those this process may run on, capped by the setting or
    `$OMP_NUM_THREADS`."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    cap = _limit[0] or _environment()
    return max(1, min(available, cap)) if cap else available


def _apply() -> int:
    import torch

    large = sum(1 for n in _running.values() if n == LARGE)
    # a scoring pass keeps its share (small tasks beside it do not halve it); small tasks
    # alone get one thread; with nothing running, torch's default
    wanted = max(1, cores() // large) if large else (1 if _running else cores())
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
    return wanted


@contextmanager
def task(size: int = LARGE) -> Iterator[int]:
    """Run one torch task: `SMALL` for one thread, `LARGE` for a fair share of the cores.
    Yields the thread count set; `last()` gives it to the caller afterwards (for a trace)."""
    key = next(_ids)
    with _lock:
        _running[key] = size
        count = _apply()
    _last.value = count
    try:
        yield count
    finally:
        with _lock:
            _running.pop(key, None)
            _apply()


def last() -> int:
    """The thread count of this thread's latest task (0 before any)."""
    return int(getattr(_last, "value", 0))
