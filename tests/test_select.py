"""The selector: candidates behind a relevance gate, score terms, grains, traces, strict mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlay import ConfigError, Overlay, Settings
from overlay.lm.fake import FakeLM
from overlay.lm.hf import HFModel
from overlay.select import NOTHING_KNOWN, plain
from overlay.select.decoding import StatementIndex, allowed_tokens, attribute
from overlay.trace import Trace, render

from .conftest import VAULT


def fake_overlay(db: Path, **select: object) -> Overlay:
    settings = Settings.make(
        db=db, retrieve={"embedder": "hashing"}, lm={"model": "fake"}, select=select
    )
    return Overlay(settings=settings)


@pytest.fixture
def fake_vault(tmp_path: Path) -> Overlay:
    ov = fake_overlay(tmp_path / "o.db")
    ov.ingest([VAULT])
    return ov


def test_plain_text_of_notes() -> None:
    assert plain("Use a [[Levain]] in a [[Baking in a Dutch oven|Dutch oven]].") == (
        "Use a Levain in a Dutch oven."
    )
    assert plain("**bold** and `code`\n\nnext   line") == "bold and code next line"
    assert plain("one two three four", limit=9) == "one two"


def test_statement_answer_cites_a_node_for_every_span(fake_vault: Overlay) -> None:
    trace = fake_vault.ask("how do I feed a sourdough starter")
    assert trace.known and trace.candidates
    assert trace.spans and all(s.nodes for s in trace.spans)
    assert "".join(s.text for s in trace.spans) == trace.answer.replace("\n", "")
    for span in trace.spans:
        assert trace.answer[span.start : span.end] == span.text
    chosen = [c for c in trace.candidates if c.chosen]
    assert len(chosen) == 2 and {c.node_id for c in chosen} == set(trace.cited)
    for c in trace.candidates:  # the LM term weighs 0 out of the box: not computed
        assert set(c.terms) == {"retrieval", "information", "activation"}
        expected = 2 * c.terms["retrieval"] + c.terms["information"]
        assert c.score == pytest.approx(expected + 0.5 * c.terms["activation"])
    best = max(trace.candidates, key=lambda c: c.score)
    assert best.chosen and best.rank == 1


def test_trace_is_stored_and_renders(fake_vault: Overlay) -> None:
    trace = fake_vault.ask("what does the float test show")
    again = fake_vault.trace(trace.id[:6])
    assert again == trace
    assert Trace.from_dict(trace.to_dict()) == trace
    events = fake_vault.store.events(5)
    assert events[0].kind == "ask" and events[0].payload["trace"] == trace.id
    assert trace.id in str(render(trace).label)


def test_empty_overlay_says_it_knows_nothing(tmp_path: Path) -> None:
    with fake_overlay(tmp_path / "o.db") as ov:
        trace = ov.ask("how do I feed a sourdough starter")
    assert not trace.known and trace.answer == NOTHING_KNOWN
    assert trace.spans == [] and trace.candidates == []


def test_unrelated_question_is_gated_out(smol_vault: Overlay) -> None:
    trace = smol_vault.ask("Who won the football world cup in 1998?")
    assert not trace.known and trace.answer == NOTHING_KNOWN


def test_bad_requests_are_config_errors(fake_vault: Overlay) -> None:
    with pytest.raises(ConfigError, match="mode"):
        fake_vault.ask("x", mode="poem")
    with pytest.raises(ConfigError, match="compose"):
        fake_vault.ask("starter", strict=True)
    with pytest.raises(ConfigError, match="two"):
        fake_vault.choose("x", ["only one"])
    with pytest.raises(ConfigError, match="empty"):
        fake_vault.ask("  ")


def test_temperature_sampling_is_seeded(tmp_path: Path) -> None:
    picks = []
    for run in range(2):
        ov = fake_overlay(tmp_path / f"o{run}.db", temperature=5.0, seed=7)
        ov.ingest([VAULT])
        picks.append(ov.ask("starter flour water").cited)
    assert picks[0] == picks[1]


def test_compose_spans_cover_the_answer(fake_vault: Overlay) -> None:
    trace = fake_vault.ask("how do I feed a sourdough starter", mode="compose")
    assert trace.answer
    assert "".join(s.text for s in trace.spans) == trace.answer
    assert {s.origin for s in trace.spans} <= {"overlay", "model", "connective"}
    assert any(s.nodes for s in trace.spans)  # the bias copies from the chosen statements


def test_attribution_of_copied_and_own_words() -> None:
    lm = FakeLM()
    index = StatementIndex.build(lm, [("n1", "Feed the starter daily."), ("n2", "Keep it cool.")])
    ids = lm.encode("Well, feed the starter daily. Keep it cool.")
    text, spans = attribute(lm, ids, index)
    assert text == "Well, feed the starter daily. Keep it cool."
    assert [(s.origin, s.nodes) for s in spans] == [
        ("model", []),
        ("overlay", ["n1"]),
        ("overlay", ["n2"]),
    ]


def test_strict_mode_emits_only_allowed_tokens(smol_vault: Overlay, smol: HFModel) -> None:
    trace = smol_vault.ask("how do I feed a sourdough starter", mode="compose", strict=True)
    chosen = [(c.node_id or "", c.text) for c in trace.candidates if c.chosen]
    connectives = smol_vault.settings.select.connectives
    index = StatementIndex.build(smol, chosen, connectives)
    ids = smol.encode(trace.answer)
    assert ids, "strict mode produced nothing"
    # re-derive each step's allowed set from the generated prefix
    for k, tok in enumerate(ids):
        assert tok in allowed_tokens(index, ids[:k], smol.eos_token_id), (k, smol.decode([tok]))
    assert {s.origin for s in trace.spans} <= {"overlay", "connective"}


def test_choose_ranks_options_with_the_overlays_help(smol_vault: Overlay) -> None:
    trace = smol_vault.choose(
        "To check that a levain is ready, drop a spoonful of it in",
        ["water and see if it floats", "the oven for an hour"],
    )
    ranked = sorted(trace.candidates, key=lambda c: c.rank)
    assert ranked[0].text == "water and see if it floats" and ranked[0].chosen
    assert trace.known and trace.settings["context"]
    assert all({"lm", "retrieval", "lm_bare"} == set(c.terms) for c in trace.candidates)
    assert trace.spans[0].nodes  # the chosen option is backed by a note


def test_pmi_term_is_question_minus_prior(tmp_path: Path) -> None:
    always = fake_overlay(tmp_path / "o.db", lm_at_ask="always")
    always.ingest([VAULT])
    trace = always.ask("what does the float test show")
    sel = always.selector
    assert trace.settings["lm_deferred"] is False
    for c in trace.candidates:
        assert c.terms["lm"] == pytest.approx(c.terms["lm_raw"] - sel._priors([c.text])[0])


def test_real_model_answers_from_the_vault(smol_vault: Overlay) -> None:
    trace = smol_vault.ask("How do I keep a sourdough starter alive?")
    assert trace.known and len(trace.cited) == 2
    titles = {c.title for c in trace.chosen}
    assert titles & {"Starter", "Storing a starter", "Feeding a starter"}, titles
    nodes = smol_vault.store.get_nodes(trace.cited)
    assert all(n.source_path for n in nodes.values())
    assert trace.timings["total"] > 0 and trace.model == "SmolLM2-135M-Instruct"
