"""The LM protocol: what the overlay asks of a language model, and nothing more.

The model is a scorer and a generator that knows nothing of the overlay (no store imports
here): `score` gives per-token log-probabilities of continuations of one prompt, `generate`
writes text (under caller-supplied logits processors in process, or a regular expression on a
server), `chat_template` renders messages. `features` says which of these a backend can do, so
the selector picks what works: a served model takes no logits processors, and a server that
returns no prompt log-probabilities cannot score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

SCORE = "score"  # log-probabilities of given continuations
PROCESSORS = "logits_processors"  # generation under caller-supplied logits processors
REGEX = "regex"  # generation constrained to a regular expression
STREAM = "stream"  # generated text arrives piece by piece
TOKENIZE = "tokenize"  # `encode` and `decode` work (a server may offer no tokenizer)
IN_PROCESS = frozenset({SCORE, PROCESSORS, STREAM, TOKENIZE})

OnText = Callable[[str], None]  # receives each new piece of generated text


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
    backend: str  # "transformers", "served", "fake", …

    @property
    def features(self) -> frozenset[str]:
        """What this backend can do: `SCORE`, `PROCESSORS`, `REGEX`, `STREAM`, `TOKENIZE`."""
        ...

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
        *,
        regex: str | None = None,
        on_text: OnText | None = None,
    ) -> Generation:
        """Greedy text after `prompt`. Each processor is a transformers `LogitsProcessor`
        (`(input_ids, scores) -> scores`) applied in order at every step (needs `PROCESSORS`);
        `regex` constrains the whole text (needs `REGEX`); `on_text` receives each new piece
        of text as it is decoded."""
        ...
