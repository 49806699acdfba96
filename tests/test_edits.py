"""The edit benchmark's two conventions (WISE/GRACE and CounterFact) on hand-written records,
with the real default model and embedder."""

from __future__ import annotations

import json
import string
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from overlay import Overlay, Settings
from overlay.evaluate.edits import CONVENTIONS, evaluate, load, produces

RECORDS = [  # written here: one completion in CounterFact's form, two zsRE-style questions
    {"prompt": "The headquarters of Nokia are in", "target_new": "Tokyo",
     "ground_truth": "Espoo", "rephrase_prompt": "Nokia has its head office in",
     "locality_prompt": "The headquarters of Toyota are in",
     "locality_ground_truth": "Toyota City"},
    {"prompt": "What is the native language of Danielle Darrieux?", "target_new": "English",
     "ground_truth": "French",
     "rephrase_prompt": "Which language did Danielle Darrieux speak first?",
     "locality_prompt": "nq question: what is the capital city of france",
     "locality_ground_truth": "Paris"},
    {"prompt": "Which sport does Michael Jordan play?", "target_new": "cricket",
     "ground_truth": "basketball", "rephrase_prompt": "What sport is Michael Jordan known for?",
     "locality_prompt": "nq question: which sport does roger federer play",
     "locality_ground_truth": "tennis"},
]


def test_produces_matches_whole_words_case_and_spacing_aside() -> None:
    assert produces("The head office of Nokia is in  TOKYO.", "Tokyo")
    assert produces("It was established in 1997.", "1997")
    assert not produces("It was established in 19970.", "1997")
    assert not produces("Tokyoite culture", "Tokyo")
    assert produces("Danielle Darrieux speaks English", "english")


@given(st.text(string.ascii_letters + string.digits + "é", min_size=1, max_size=12),
       st.text(" ,.;", max_size=3), st.text(" ,.;", max_size=3))
def test_produces_finds_any_target_between_separators(word: str, left: str, right: str) -> None:
    assert produces(f"before{left or ' '}{word.upper()}{right or ' '}after", word)


def test_both_conventions_on_a_small_run(tmp_path: Path, smol: object, minilm: object) -> None:
    data = tmp_path / "edits.json"
    data.write_text(json.dumps(RECORDS))
    settings = Settings.make(db=tmp_path / "o.db", retrieve={"embedder": "minilm"})
    with Overlay(settings=settings, lm=smol, embedder=minilm) as ov:  # type: ignore[arg-type]
        found = evaluate(ov, load(data), sequential=True, empty=True)
    conv = found["conventions"]
    assert set(conv["about"]) == set(CONVENTIONS) == {"headline", "wise", "counterfact"}
    wise, cf = conv["wise"], conv["counterfact"]
    # the overlay answers each edited prompt with the learned statement, and learned
    # statements stay out of unrelated questions (locality by construction)
    assert wise["overlay"]["reliability"] == 1.0
    assert wise["overlay"]["locality"] == 1.0
    assert wise["bare_model"]["locality"] == 1.0
    assert cf["overlay"]["efficacy"] == found["overlay"]["reliability"] == 1.0
    assert cf["overlay"]["paraphrase"] == found["overlay"]["generalization"]
    # the neighbourhood's own objects keep the model's preference: the edits do not move them
    assert cf["overlay"]["neighbourhood"] == cf["bare_model"]["neighbourhood"]
    assert 0.0 <= wise["bare_model"]["reliability"] <= 1.0


def test_every_record_is_learned_and_the_groups_measured_on_their_own(
    tmp_path: Path, smol: object, minilm: object
) -> None:
    data = tmp_path / "edits.json"
    data.write_text(json.dumps(RECORDS))
    settings = Settings.make(db=tmp_path / "o.db", retrieve={"embedder": "minilm"})
    with Overlay(settings=settings, lm=smol, embedder=minilm) as ov:  # type: ignore[arg-type]
        found = evaluate(ov, load(data), empty=True, wise=False,
                         measure={"first": [0], "later": [2]})
    assert found["records"] == 3 and found["measured"] == 2
    assert found["conventions"]["wise"] is None
    first, later = found["groups"]["first"], found["groups"]["later"]
    assert first["records"] == later["records"] == 1
    # the first edit, learned before the other two, is still chosen; the third too
    assert first["overlay"]["reliability"] == later["overlay"]["reliability"] == 1.0
    assert found["overlay"]["reliability"] == 1.0
    assert found["learn_ms_p95"] >= found["learn_ms_p50"] > 0
    assert found["store_bytes"] > 0
