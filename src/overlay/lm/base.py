"""The LM protocol: what the overlay asks of a language model, and nothing more.

The model is a scorer and a generator that knows nothing of the overlay (no store imports
here): `score` gives per-token log-probabilities of continuations of one prompt, `generate`
writes text under caller-supplied logits processors, `chat_template` renders messages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class Scored:
    """Log-probabilities of one continuation's tokens given the prompt."""

    text: str
    token_ids: list[int]
    logprobs: list[float]

    @property
    def total(self) -> float:
        return math.fsum(self.logprobs)

    def normalised(self, alpha: float = 1.0) -> float:
        """Sum of log-probs over len^alpha: alpha=1 is the mean, alpha=0 the sum."""
        n = max(len(self.logprobs), 1)
        return self.total / math.pow(n, alpha)


@dataclass
class Generation:
    """Generated text, its token ids, and why it stopped."""

    text: str
    token_ids: list[int]
    prompt_tokens: int
    stopped: str = "length"
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class LM(Protocol):
    """A causal language model behind the overlay."""

    name: str

    @property
    def eos_token_id(self) -> int: ...

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str, *, special: bool = False) -> list[int]:
        """Token ids of `text`; `special` adds the tokenizer's own start tokens."""
        ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def chat_template(self, messages: Sequence[dict[str, str]]) -> str:
        """The prompt string for `messages` ({role, content}), ready for the assistant turn."""
        ...

    def score(self, prompt: str, continuations: Sequence[str]) -> list[Scored]:
        """Per-token log-probs of each continuation after `prompt` (the prompt runs once)."""
        ...

    def generate(
        self,
        prompt: str,
        logits_processors: Sequence[Any] = (),
        max_tokens: int = 128,
        stop: Sequence[str] = (),
    ) -> Generation:
        """Greedy text after `prompt`; each processor is a transformers `LogitsProcessor`
        (`(input_ids, scores) -> scores`), applied in order at every step."""
        ...
