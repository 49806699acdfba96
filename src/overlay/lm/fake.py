"""A deterministic fake LM for plumbing tests (dspy's DummyLM idea).

Word-piece tokens, log-probs from a hash of (previous token, token), greedy generation that
honours logits processors exactly as transformers does. Never use it where a result should
depend on what a model knows.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Generator, Sequence
from typing import Any

from overlay.errors import ModelError
from overlay.lm.base import IN_PROCESS, Generation, OnText, Scored
from overlay.patterns import S, W, linear

_PIECE = linear(rf"[{S}]*[{W}]+|[{S}]*[^{W}{S}]|[{S}]+$")


def _unit(*parts: object) -> float:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") / 2**32


class FakeLM:
    """Same inputs, same outputs; its vocabulary grows as it sees words."""

    name = "fake"
    backend = "fake"
    features = IN_PROCESS

    def __init__(self, vocab_size: int = 4096) -> None:
        self._vocab_size = vocab_size
        self._ids: dict[str, int] = {"</s>": 0}
        self._pieces: list[str] = ["</s>"]

    @property
    def eos_token_id(self) -> int:
        return 0

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    def encode(self, text: str, *, special: bool = False) -> list[int]:
        ids = []
        for piece in _PIECE.findall(text):
            if piece not in self._ids:
                if len(self._pieces) >= self._vocab_size:
                    raise ModelError(f"the fake LM's vocabulary is full ({self._vocab_size})")
                self._ids[piece] = len(self._pieces)
                self._pieces.append(piece)
            ids.append(self._ids[piece])
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self._pieces[i] for i in ids if 0 < i < len(self._pieces))

    def chat_template(self, messages: Sequence[dict[str, str]]) -> str:
        return "".join(f"<{m['role']}> {m['content']}\n" for m in messages) + "<assistant>"

    def _logprob(self, prev: int, token: int) -> float:
        return -0.5 - 5.5 * _unit(prev, token)

    def score(self, prompt: str, continuations: Sequence[str]) -> list[Scored]:
        p = self.encode(prompt)
        out = []
        for text in continuations:
            c = self.encode(text)
            prev = [p[-1] if p else 0, *c[:-1]]
            out.append(Scored(text, c, [self._logprob(a, b) for a, b in zip(prev, c, strict=True)]))
        return out

    def score_batch(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[list[Scored]]:
        return [self.score(prompt, conts) for prompt, conts in requests]

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
        steps = self.steps(prompt, logits_processors, max_tokens, stop, regex=regex,
                           on_text=on_text)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                result: Generation = done.value
                return result

    def steps(
        self,
        prompt: str,
        logits_processors: Sequence[Any] = (),
        max_tokens: int = 128,
        stop: Sequence[str] = (),
        *,
        regex: str | None = None,
        on_text: OnText | None = None,
    ) -> Generator[None, None, Generation]:
        """Greedy, one token per step (as `HFModel.steps`), honouring logits processors."""
        import torch

        if regex is not None:
            raise ModelError("the fake LM writes under logits processors, not a regex")
        t0 = time.perf_counter()
        ids = self.encode(prompt) or [0]
        new: list[int] = []
        stopped = "length"
        known = len(self._pieces)
        for _ in range(max_tokens):
            prev = (ids + new)[-1]
            scores = torch.full((1, self._vocab_size), -1e9)
            for t in range(1, known):
                scores[0, t] = self._logprob(prev, t)
            scores[0, 0] = -3.0 if len(new) > 8 else -50.0
            input_ids = torch.tensor([ids + new])
            for proc in logits_processors:
                scores = proc(input_ids, scores)
            token = int(scores[0].argmax())
            if token == self.eos_token_id:
                stopped = "eos"
                break
            new.append(token)
            if on_text is not None:
                on_text(self._pieces[token])
            if stop and any(s in self.decode(new) for s in stop):
                stopped = "stop"
                break
            yield
        text = self.decode(new)
        for s in stop:
            if s in text:
                text = text[: text.index(s)]
        return Generation(text, new, len(ids), stopped, time.perf_counter() - t0)
