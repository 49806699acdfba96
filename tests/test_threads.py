"""torch's thread count per task: one thread for a small task, the cores shared among large
ones, and a small task beside a large one never halves it."""

from __future__ import annotations

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
