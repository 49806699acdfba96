"""Verdict evidence conditioned on the question (`overlay.evidence`): a verdict weighs on
questions like the one judged, not on every question its node serves; undo takes it back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlay.evidence import conditioned, nearness, same

from .test_learning import copy_of, template  # noqa: F401  (the module's fixture)


def test_nearness_ramps_from_the_floor_to_the_same_question() -> None:
    asked = np.array([1.0, 0.0], dtype=np.float32)
    vectors = {
        "near": np.array([0.9, np.sqrt(1 - 0.81)], dtype=np.float32),  # cos 0.9
        "far": np.array([0.5, np.sqrt(0.75)], dtype=np.float32),  # cos 0.5
    }
    near = nearness("q", asked, ["near", "far", "Q ", "unembedded"], vectors, floor=0.7)
    assert near["near"] == pytest.approx((0.9 - 0.7) / 0.3)
    assert near["far"] == 0.0
    assert near["Q "] == 1.0  # the same question, case and spacing aside, without a vector
    assert near["unembedded"] == 0.0
    assert nearness("q", None, ["near", "q"], vectors, 0.7) == {"near": 0.0, "q": 1.0}
    assert same("How  do I?", "how do i?") and not same("how do I?", "how do we?")


rows = st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 5), st.integers(0, 5)),
                max_size=6)


@given(rows, st.integers(0, 5), st.integers(0, 5), st.floats(0, 1))
def test_conditioned_counts_are_the_global_ones_at_full_weight(
    judged: list[tuple[str, int, int]], own_s: int, own_f: int, k: float
) -> None:
    """At weight 1 the counts are the node's own; at 0 only what is not a verdict (own_s,
    own_f: a learned statement's success) is left; in between, in between."""
    merged: dict[str, tuple[int, int]] = {}
    for q, s, f in judged:
        merged[q] = (merged.get(q, (0, 0))[0] + s, merged.get(q, (0, 0))[1] + f)
    table = {"n": [(q, s, f) for q, (s, f) in merged.items()]}
    total = (own_s + sum(s for s, _ in merged.values()), own_f + sum(f for _, f in merged.values()))
    full = conditioned({"n": total}, table, dict.fromkeys(merged, 1.0))["n"]
    none = conditioned({"n": total}, table, dict.fromkeys(merged, 0.0))["n"]
    part = conditioned({"n": total}, table, dict.fromkeys(merged, k))["n"]
    assert full == pytest.approx(total)
    assert none == pytest.approx((own_s, own_f))
    for i in range(2):
        assert none[i] - 1e-9 <= part[i] <= full[i] + 1e-9


def test_a_bad_verdict_weighs_on_its_question_only(
    template: Path, tmp_path: Path  # noqa: F811
) -> None:
    with copy_of(template, tmp_path) as ov:
        ov.feedback(ov.ask("what is hooch").id, "good")  # the goal has both outcomes
        asked = "how do I feed a sourdough starter"
        trace = ov.ask(asked)
        lead = trace.cited[0]
        fb = ov.feedback(trace.id, "bad")

        def bits(question: str) -> float:
            again = ov.ask(question)
            return next(c.terms["information"] for c in again.candidates if c.node_id == lead)

        assert bits(asked) < 0 and bits("How do I feed a  sourdough starter") < 0
        # the node's own counts say it failed once, and its page says so ...
        assert ov.store.counts([lead], "answer")[lead] == (0, 1)
        # ... but another question it serves is not judged by that verdict
        assert bits("how should I store a starter") == 0.0
        ov.undo(fb["event"])
        assert bits(asked) == 0.0


def test_merged_verdicts_bring_their_questions(template: Path, tmp_path: Path) -> None:  # noqa: F811
    """A merge imports the per-question verdicts and embeds their questions, so the evidence
    works the same in the overlay that received them."""
    asked = "how do I feed a sourdough starter"
    with copy_of(template, tmp_path, "a.db") as a:
        a.feedback(a.ask("what is hooch").id, "good")
        a.feedback(a.ask(asked).id, "bad")
        judged = a.store.all_judged()
    with copy_of(template, tmp_path, "b.db") as b:
        b.merge(tmp_path / "a.db")
        assert b.store.all_judged() == judged
        assert b.store.question_vectors([asked, "what is hooch"], "hashing-256").keys() == {
            asked, "what is hooch"}
