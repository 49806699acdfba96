"""torch's thread count per task: one thread for a small task, the cores shared among large
ones, and a small task beside a large one never halves it."""

from __future__ import annotations

import pytest
import torch

from overlay import threads


def test_thread_counts_follow_the_running_tasks() -> None:
    cores = threads.cores()
    with threads.task(threads.SMALL) as small:
        assert small == 1 and torch.get_num_threads() == 1
    with threads.task(threads.LARGE) as large:
        assert large == cores
        with threads.task(threads.SMALL):
            assert torch.get_num_threads() == cores  # the pass keeps its threads
        with threads.task(threads.LARGE) as second:
            assert second == max(1, cores // 2)
        assert threads.last() == max(1, cores // 2)
    assert torch.get_num_threads() == cores


def test_the_setting_and_omp_num_threads_cap_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    available = threads.cores()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.cores() == 1
    with threads.task(threads.LARGE) as large:
        assert large == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert threads.cores() == available
    monkeypatch.delenv("OMP_NUM_THREADS")
    try:
        threads.limit(1)
        assert threads.cores() == 1
        threads.limit(10_000)  # more than the machine has: what it has
        assert threads.cores() == available
    finally:
        threads.limit(None)
    assert threads.cores() == available


def test_eta_is_the_rate_so_far_over_what_is_left() -> None:
    from overlay.progress import Eta

    now = [10.0]
    eta = Eta(lambda: now[0])
    assert eta("embed", 0, 100)["eta_s"] is None  # nothing done: no rate yet
    now[0] = 14.0
    assert eta("embed", 25, 100) == {"stage": "embed", "done": 25, "total": 100,
                                     "elapsed_s": 4.0, "eta_s": 12.0}
    assert eta("read", 3, 3) == {"stage": "read", "done": 3, "total": 3,
                                 "elapsed_s": 0.0, "eta_s": 0.0}  # its own clock
    now[0] = 30.0
    assert eta("embed", 100, 100)["eta_s"] == 0.0
