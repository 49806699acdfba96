"""An ask pays only for what counts: while the LM term weighs nothing it is not computed at
the ask, and its evidence is computed when a verdict arrives, so it earns weight as before."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from overlay import Overlay, Settings
from overlay.lm.base import Scored
from overlay.lm.fake import FakeLM
from tests.conftest import VAULT


class CountingLM(FakeLM):
    """The deterministic fake, counting the candidates it scores."""

    def __init__(self) -> None:
        super().__init__()
        self.scored = 0

    def score(self, prompt: str, continuations: Sequence[str]) -> list[Scored]:
        self.scored += len(continuations)
        return super().score(prompt, continuations)


def open_vault(tmp_path: Path, **select: object) -> tuple[Overlay, CountingLM]:
    lm = CountingLM()  # the fake's prior equals its conditional: PMI would make it flat
    settings = Settings.make(db=tmp_path / "o.db", retrieve={"embedder": "hashing"},
                             select={"pmi": False, **select})
    ov = Overlay(settings=settings, lm=lm)
    ov.ingest([VAULT])
    return ov, lm


def test_a_statement_ask_does_not_compute_a_term_of_weight_zero(tmp_path: Path) -> None:
    ov, lm = open_vault(tmp_path)
    with ov:
        trace = ov.ask("How do I keep a sourdough starter alive?")
        assert trace.known and trace.settings["lm_deferred"] is True
        assert trace.settings["term_weights"]["lm"] == 0.0
        assert lm.scored == 0
        assert all("lm" not in c.terms for c in trace.candidates)
        assert ov.trace(trace.id).settings["lm_deferred"] is True


def test_its_verdict_computes_the_term_and_counts_it(tmp_path: Path) -> None:
    ov, lm = open_vault(tmp_path)
    with ov:
        trace = ov.ask("How do I keep a sourdough starter alive?")
        ov.feedback(trace.id, "good")
        assert lm.scored >= len(trace.candidates)  # the candidates, scored at the verdict
        terms = ov.store.term_counts("answer")
        assert "lm" in terms and sum(terms["lm"]) == 1  # one verdict on the LM's own pick


def test_the_same_evidence_as_computing_it_at_the_ask(tmp_path: Path) -> None:
    """The verdict's term counts are the same whether the LM term was computed at the ask or
    at the verdict."""
    counts = []
    for when in ("auto", "always"):
        ov, _ = open_vault(tmp_path / when, lm_at_ask=when)
        with ov:
            for q, verdict in (("How do I keep a sourdough starter alive?", "good"),
                               ("What does the float test tell me?", "bad"),
                               ("Why is my bread dense?", "good")):
                trace = ov.ask(q)
                assert trace.settings["lm_deferred"] is (when == "auto")
                ov.feedback(trace.id, verdict)
            counts.append(ov.store.term_counts("answer"))
    assert counts[0] == counts[1]
