"""One worker for a model in process, shared by concurrent requests, as a serving engine
batches its requests.

Scoring jobs from every request go on one queue; the worker takes all that are waiting (within
a token budget) and scores them in shared forward passes (`HFModel.score_batch`: one prompt per
request, all continuations packed over their prompts' cache), so concurrent asks share the
model's work; the numbers are each request's own. Generations advance one token at a time in
turn, so a long answer does not hold the others up, and scoring waits at most one token.

A job carries its request's cancellation token (`overlay.cancel`): a job whose client went
away or whose time ran out is dropped before it runs, and a generation stops at its next
token. Nothing here changes what a model computes; only when.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from overlay import cancel
from overlay.errors import CancelledError
from overlay.lm.base import Generation, OnText, Scored


@dataclass
class _Score:
    prompt: str
    continuations: Sequence[str]
    token: cancel.Token | None
    future: Future[list[Scored]] = field(default_factory=Future)


@dataclass
class _Write:
    steps: Generator[None, None, Generation]
    token: cancel.Token | None
    future: Future[Generation] = field(default_factory=Future)


class Scheduler:
    """An in-process LM (one with `score_batch` and `steps`) behind one worker thread; it is
    itself an LM, so the selector does not know it is there."""

    def __init__(self, inner: Any, budget: int | None = None) -> None:
        self.inner = inner
        self.name, self.backend, self.features = inner.name, inner.backend, inner.features
        self.budget = budget or 4 * int(getattr(inner, "batch_tokens", 1024))
        self.batches: list[int] = []  # how many requests each scoring pass served (last 1000)
        self._jobs: queue.Queue[_Score | _Write | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="overlay-lm", daemon=True)
        self._worker.start()

    @property
    def last_threads(self) -> int:
        return int(getattr(self.inner, "last_threads", 0))

    # ------------------------------------------------------ the LM protocol
    @property
    def eos_token_id(self) -> int:
        return int(self.inner.eos_token_id)

    @property
    def vocab_size(self) -> int:
        return int(self.inner.vocab_size)

    def encode(self, text: str, *, special: bool = False) -> list[int]:
        return list(self.inner.encode(text, special=special))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.inner.decode(ids))

    def chat_template(self, messages: Sequence[dict[str, str]]) -> str:
        return str(self.inner.chat_template(messages))

    def score(self, prompt: str, continuations: Sequence[str]) -> list[Scored]:
        job = _Score(prompt, continuations, cancel.current())
        self._jobs.put(job)
        return job.future.result()

    def generate(
        self,
        prompt: str,
        logits_processors: Sequence[Any] = (),
        max_tokens: int = 128,
        stop: Sequence[str] = (),
        *,
        regex: str | None = None,
        on_text: OnText | None = None,
    ) -> Generation:
        steps = self.inner.steps(prompt, logits_processors, max_tokens, stop, regex=regex,
                                 on_text=on_text)
        job = _Write(steps, cancel.current())
        self._jobs.put(job)
        return job.future.result()

    def close(self) -> None:
        """Stop the worker; jobs still waiting end with CancelledError."""
        self._jobs.put(None)
        self._worker.join(timeout=10)

    # --------------------------------------------------------------- worker
    def _run(self) -> None:
        scoring: list[_Score] = []
        writing: list[_Write] = []
        while True:
            idle = not (scoring or writing)
            for job in self._take(wait=idle):
                if job is None:
                    self._abandon(scoring, writing)
                    return
                if isinstance(job, _Score):
                    scoring.append(job)
                else:
                    writing.append(job)
            if scoring:
                scoring = self._score(scoring)
            writing = [w for w in writing if self._step(w)]

    def _take(self, wait: bool) -> list[_Score | _Write | None]:
        """Every job waiting now (when idle, the first one is waited for)."""
        found: list[_Score | _Write | None] = []
        if wait:
            found.append(self._jobs.get())
        while True:
            try:
                found.append(self._jobs.get_nowait())
            except queue.Empty:
                return found

    def _score(self, jobs: list[_Score]) -> list[_Score]:
        """Score as many waiting jobs as fit the budget in shared passes; the rest wait."""
        live = [j for j in jobs if self._alive(j)]
        batch: list[_Score] = []
        used = 0
        for job in live:
            size = len(job.prompt) // 3 + sum(len(c) for c in job.continuations) // 3
            if batch and used + size > self.budget:
                break
            batch.append(job)
            used += size
        try:
            found = self.inner.score_batch([(j.prompt, j.continuations) for j in batch])
        except BaseException as exc:  # the callers get the model's error, not the worker
            for job in batch:
                job.future.set_exception(exc)
        else:
            for job, result in zip(batch, found, strict=True):
                job.future.set_result(result)
        self.batches = [*self.batches[-999:], len(batch)]
        return live[len(batch) :]

    def _step(self, job: _Write) -> bool:
        """Advance one generation by one token; False once it is done."""
        if not self._alive(job):
            job.steps.close()
            return False
        try:
            next(job.steps)
        except StopIteration as done:
            job.future.set_result(done.value)
            return False
        except BaseException as exc:
            job.future.set_exception(exc)
            return False
        return True

    @staticmethod
    def _alive(job: _Score | _Write) -> bool:
        for token in (cancel.STOPPING, job.token):
            if token is not None and token.cancelled:
                job.future.set_exception(CancelledError(f"stopped: {token.reason}"))
                return False
        return True

    @staticmethod
    def _abandon(scoring: list[_Score], writing: list[_Write]) -> None:
        gone = CancelledError("stopped: the model is shutting down")
        for job in scoring:
            job.future.set_exception(gone)
        for other in writing:
            other.future.set_exception(gone)
