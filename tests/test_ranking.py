"""The ranking benchmark: its measures on hand-checked cases, its question files, and the
selector against its own retrieval on the labelled vault questions with the real default model
and embedder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlay import ConfigError, Overlay, Settings
from overlay.evaluate.ranking import evaluate, load, ndcg, sign_test

from .conftest import VAULT

QUESTIONS = Path(__file__).resolve().parents[1] / "examples" / "questions"


def test_ndcg_on_hand_checked_rankings() -> None:
    assert ndcg([True, False, False]) == 1.0
    assert ndcg([False, True]) == pytest.approx(1 / math.log2(3))
    assert ndcg([False, False]) == 0.0
    assert ndcg([False] * 10 + [True]) == 0.0  # past the cut


@given(st.lists(st.booleans(), max_size=30))
def test_ndcg_is_a_share_and_the_best_order_scores_one(rel: list[bool]) -> None:
    assert 0.0 <= ndcg(rel) <= 1.0
    if any(rel):
        assert ndcg(sorted(rel, reverse=True)) == pytest.approx(1.0)


def test_sign_test_matches_the_binomial() -> None:
    assert sign_test(0, 0) == 1.0
    assert sign_test(5, 5) == 1.0
    assert sign_test(6, 0) == pytest.approx(2 / 64)
    assert sign_test(36, 6) < 1e-4  # the count: p = 3e-6


def test_the_labelled_sets_load_and_name_real_notes() -> None:
    vault, docs = load(QUESTIONS / "vault.json"), load(QUESTIONS / "docs.json")
    assert len(vault) + len(docs) >= 150
    notes = {p.stem for p in VAULT.rglob("*.md")}
    assert {g for q in vault for g in q.gold} <= notes
    pages = {p.stem for p in (QUESTIONS.parents[1] / "docs").glob("*.md")}
    assert {g for q in docs for g in q.gold} <= pages


def test_bad_question_files_name_the_item(tmp_path: Path) -> None:
    bad = tmp_path / "q.json"
    bad.write_text(json.dumps([{"question": "x", "gold": ["A"]}, {"question": "y"}]))
    with pytest.raises(ConfigError, match="item 1"):
        load(bad)


@pytest.mark.slow
def test_the_selector_is_never_worse_than_retrieval_and_learns(
    tmp_path: Path, smol: object, minilm: object
) -> None:
    """The first 40 vault questions: out of the box the selector ranks at least as well as
    retrieval alone; after one round of verdicts it ranks better than it did and better than
    retrieval alone (a verdict weighs on questions like the judged one, not on every other)."""
    subset = tmp_path / "q.json"
    subset.write_text(json.dumps(json.loads((QUESTIONS / "vault.json").read_text())[:40]))
    settings = Settings.make(db=tmp_path / "o.db", retrieve={"embedder": "minilm"})
    with Overlay(settings=settings, lm=smol, embedder=minilm) as ov:  # type: ignore[arg-type]
        ov.ingest([VAULT])
        found = evaluate(ov, load(subset))
        assert ov.stats()["traces"] == 0  # the run happened on a scratch copy
    before, after = found["out_of_the_box"], found["after_feedback"]
    for m in ("ndcg@10", "top1"):
        assert before["selector"][m] >= before["retrieval"][m]
    assert found["verdicts"]["bad"] > 0
    assert after["selector"]["top1"] > before["selector"]["top1"]
    assert after["selector"]["ndcg@10"] > before["selector"]["ndcg@10"]
    for m in ("ndcg@10", "top1"):
        assert after["selector"][m] > after["retrieval"][m]
