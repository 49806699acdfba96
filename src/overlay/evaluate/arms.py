"""The lab's arms, built in one place with one set of names: the same knowledge delivered
`bare` (the base model alone), `outside` (the overlay's selector over the base model),
`inside` (the base model with a LoRA imprint) and `both` (the selector over the imprint).

`overlay eval selftest`, `overlay passport build` and `overlay eval compare` all build their
arms here, so an arm means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from overlay.engine import Overlay
from overlay.lm.base import LM

ARMS = ("bare", "outside", "inside", "both")


class Arm:
    """One way of answering: a model alone, or the overlay's selector over a model."""

    def __init__(self, name: str, lm: LM, overlay: Overlay | None = None, max_tokens: int = 48):
        self.name, self.lm, self.overlay, self.max_tokens = name, lm, overlay, max_tokens

    def answer(self, question: str) -> str:
        if self.overlay is not None:  # the selector itself: nothing is recorded in the store
            return self.overlay.selector.ask(question, "answer", "statement", False).answer
        prompt = self.lm.chat_template([{"role": "user", "content": question}])
        return self.lm.generate(prompt, max_tokens=self.max_tokens, stop=["\n\n"]).text

    def own_bare_choice(self, question: str, options: list[str]) -> tuple[str, str]:
        """(the overlay's choice, the model's alone in the same prompt): the overlay's own
        baseline, so a difference is the overlay's doing and not a change of prompt."""
        assert self.overlay is not None
        trace = self.overlay.selector.choose(question, options)
        alone = max(trace.candidates, key=lambda c: c.terms.get("lm_bare", 0.0)).text
        return trace.answer, alone

    def choose(self, question: str, options: list[str]) -> str:
        if self.overlay is not None:
            return self.overlay.selector.choose(question, options).answer
        prompt = self.lm.chat_template([{"role": "user", "content": question}])
        scored = self.lm.score(prompt, options)
        return max(scored, key=lambda s: s.normalised(1.0)).text


def sibling(overlay: Overlay, db: Path | str, lm: LM | None = None) -> Overlay:
    """Another store with `overlay`'s settings and its already-loaded models (or `lm`)."""
    settings = overlay.settings.model_copy(update={"db": db})
    if lm is None or lm is overlay.lm:
        return Overlay(settings=settings, models=overlay.models)
    return Overlay(settings=settings, plugins=overlay.plugins, lm=lm, embedder=overlay.embedder)


@contextmanager
def scratch(overlay: Overlay, lm: LM | None = None, empty: bool = False) -> Iterator[Overlay]:
    """A sibling over a scratch copy of `overlay`'s store (an empty store with `empty`), with
    its models (or `lm`): an evaluation learns and judges there, never in the user's store."""
    with overlay.scratch(empty) as copy, sibling(overlay, copy, lm) as ov:
        yield ov


@contextmanager
def build(
    bare: LM, inside: LM | None = None, overlay: Overlay | None = None
) -> Iterator[list[Arm]]:
    """The arms these models make, in the lab's order: `bare` always, `outside` with an
    overlay (answering through `bare`), `inside` with an adapted model, `both` with both
    (the same store answering through `inside`)."""
    arms = {"bare": Arm("bare", bare)}
    both: Overlay | None = None
    if overlay is not None:
        overlay.lm = bare  # the overlay answers through the model already loaded
        arms["outside"] = Arm("outside", bare, overlay)
    if inside is not None:
        arms["inside"] = Arm("inside", inside)
        if overlay is not None:
            both = sibling(overlay, overlay.path, inside)
            arms["both"] = Arm("both", inside, both)
    try:
        yield [arms[name] for name in ARMS if name in arms]
    finally:
        if both is not None:
            both.close()
