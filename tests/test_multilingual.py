"""Russian and cross-lingual search: the default multilingual embedder, fusion that weighs each
list by how well it covers the query, the Russian example vault, and learning in Russian."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlay import ConfigError, Overlay, Settings
from overlay.evaluate.edits import evaluate, load
from overlay.lm.fake import FakeLM
from overlay.retrieve.embed import E5_NAME, E5Embedder, SentenceTransformerEmbedder
from overlay.retrieve.fusion import coverage, script_share, weighted_rrf
from tests.conftest import VAULT, VAULT_RU

QUESTIONS_RU = Path(__file__).resolve().parents[1] / "examples" / "questions" / "vault-ru.json"


# ------------------------------------------------------------------ fusion
def test_coverage_is_the_share_of_the_query_the_index_knows() -> None:
    assert coverage([3, 10, 1], 100) == 1.0
    assert coverage([0, 0], 100) == 0.0
    assert coverage([], 100) == 0.0
    rare_missing, common_missing = coverage([0, 5], 100), coverage([5, 50], 100)
    assert 0 < rare_missing < 0.6 < common_missing <= 1.0  # a missing rare word weighs most


def test_script_share_counts_letters_the_embedder_reads() -> None:
    latin = frozenset({"latin"})
    assert script_share("Как заварить чай?", latin) == 0.0
    assert script_share("How to brew tea?", latin) == 1.0
    assert script_share("Как заварить oolong?", None) == 1.0
    assert 0 < script_share("Как заварить oolong?", latin) < 0.5
    assert script_share("2024?", latin) == 1.0  # no letters: nothing to judge by


@given(st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8),
       st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8))
def test_a_list_of_weight_zero_changes_no_order(lexical: list[str], dense: list[str]) -> None:
    lists = {"lexical": [(n, 1.0) for n in lexical], "dense": [(n, 1.0) for n in dense]}
    plain = weighted_rrf(lists, {})
    alone = weighted_rrf(lists, {"dense": 0.0})
    assert all(plain[n]["rrf"] >= alone[n]["rrf"] for n in plain)
    order = sorted(lexical, key=lambda n: -alone[n]["rrf"])
    assert order == lexical  # only the lexical list decides
    assert all(alone[n]["dense_weight"] == 0.0 for n in dense)


# --------------------------------------------------------------- embedder
def test_e5_puts_a_russian_sentence_beside_its_english_translation(e5: E5Embedder) -> None:
    ru, en, other = e5.embed(["Зелёный чай заваривают водой 80 градусов.",
                              "Green tea is brewed with water at 80 degrees.",
                              "The football match ended in a draw."])
    assert e5.name == E5_NAME and e5.dim == 384
    assert float(np.linalg.norm(ru)) == pytest.approx(1.0, abs=1e-3)
    assert float(ru @ en) > float(ru @ other) + 0.1
    question = e5.embed_queries(["При какой температуре заваривать зелёный чай?"])[0]
    assert float(question @ ru) > float(question @ other)


def overlay_of(folder: Path, db: Path, e5: E5Embedder, *more: Path) -> Overlay:
    ov = Overlay(settings=Settings.make(db=db), embedder=e5)
    ov.ingest([folder, *more])
    return ov


@pytest.fixture(scope="module")
def tea(tmp_path_factory: pytest.TempPathFactory, e5: E5Embedder) -> Iterator[Overlay]:
    """The Russian example vault alone, with the default embedder."""
    with overlay_of(VAULT_RU, tmp_path_factory.mktemp("tea") / "o.db", e5) as ov:
        yield ov


@pytest.fixture(scope="module")
def bread(tmp_path_factory: pytest.TempPathFactory, e5: E5Embedder) -> Iterator[Overlay]:
    """The English example vault alone, with the default embedder."""
    with overlay_of(VAULT, tmp_path_factory.mktemp("bread") / "o.db", e5) as ov:
        yield ov


def first(ov: Overlay, question: str) -> tuple[str, float]:
    """The note of the first hit, and the weight the lexical list had for the question."""
    hit = ov.search(question, k=1)[0]
    covered = ov.retriever.query_terms(question)[1]
    return Path(hit.source_path or "").stem, ov.retriever.weights(question, covered, [])[
        "lexical"]


def first_note(ov: Overlay, question: str) -> str:
    return first(ov, question)[0]


def test_a_russian_question_finds_its_russian_note(tea: Overlay) -> None:
    assert first_note(tea, "Зачем промывать пуэр?") == "Пуэр"
    assert first_note(tea, "При какой температуре заваривать зелёный чай?") in {
        "Зелёный чай", "Температура воды"}


@pytest.mark.parametrize(("question", "note"), [
    ("How long can green tea be kept once the pack is open?", "Хранение чая"),
    ("Why do people rinse pu-erh before brewing it?", "Пуэр"),
    ("Why is matcha so bright green and sweet?", "Матча"),
])
def test_an_english_question_finds_a_russian_note(tea: Overlay, question: str,
                                                  note: str) -> None:
    """The words barely meet (the lexical list counts next to nothing); the dense list
    carries the question across, and the snippet is the note's own Russian."""
    found, lexical = first(tea, question)
    assert found == note and lexical < 0.1
    hit = tea.search(question, k=1)[0]
    assert any("а" <= ch <= "я" for ch in hit.snippet.lower())


@pytest.mark.parametrize(("question", "note"), [
    ("Что такое автолиз?", "Autolyse"),
    ("Что показывает тест на плавучесть закваски?", "Float test"),
])
def test_a_russian_question_finds_an_english_note(bread: Overlay, question: str,
                                                  note: str) -> None:
    assert first(bread, question) == (note, 0.0)  # no Russian word is in the notes at all


def test_in_one_store_of_both_languages_each_finds_its_own(tmp_path: Path,
                                                           e5: E5Embedder) -> None:
    with overlay_of(VAULT, tmp_path / "o.db", e5, VAULT_RU) as ov:
        assert first_note(ov, "Зачем промывать пуэр?") == "Пуэр"
        assert first_note(ov, "What is a gaiwan?") == "Гайвань"  # its English alias
        assert first_note(ov, "How do I keep a sourdough starter alive?") in {
            "Storing a starter", "Starter"}


def test_the_russian_questions_name_notes_of_the_russian_vault() -> None:
    questions = json.loads(QUESTIONS_RU.read_text(encoding="utf-8"))
    notes = {p.stem for p in VAULT_RU.glob("*.md")}
    assert len(questions) >= 60
    assert {g for q in questions for g in q["gold"]} <= notes


def test_retrieval_answers_most_russian_questions_first(tea: Overlay) -> None:
    questions = json.loads(QUESTIONS_RU.read_text(encoding="utf-8"))
    top = [first_note(tea, q["question"]) in q["gold"] for q in questions]
    assert sum(top) / len(top) >= 0.8, f"{sum(top)} of {len(top)}"


# ------------------------------------------------------- stores and names
def test_a_store_keeps_the_embedder_it_was_made_with(tmp_path: Path,
                                                     minilm: SentenceTransformerEmbedder) -> None:
    db = tmp_path / "o.db"
    with Overlay(settings=Settings.make(db=db, retrieve={"embedder": "minilm"}),
                 embedder=minilm) as ov:
        ov.ingest([VAULT])
    with Overlay(settings=Settings.make(db=db)) as ov:  # the default, 'auto': its own
        assert ov.settings.retrieve.embedder == "minilm"
    with Overlay(settings=Settings.make(db=tmp_path / "new.db")) as ov:
        assert ov.settings.retrieve.embedder == "e5"
    with (Overlay(settings=Settings.make(db=db, retrieve={"embedder": "e5"})) as ov,
          pytest.raises(ConfigError, match="made by all-MiniLM-L6-v2, not " + E5_NAME)):
        ov.search("starter")
    with Overlay(settings=Settings.make(db=db, retrieve={"embedder": "e5"})) as ov:
        assert ov.reembed() == ov.stats()["nodes"]  # the fix the message names
        assert ov.reembed() == 0
    with Overlay(settings=Settings.make(db=db)) as ov:  # now 'auto' is the default again
        assert ov.settings.retrieve.embedder == "e5"
        assert ov.search("Как сохранить закваску живой?", k=1)


def test_questions_are_alike_on_the_embedders_own_scale(tmp_path: Path, e5: E5Embedder) -> None:
    with Overlay(settings=Settings.make(db=tmp_path / "a.db"), embedder=e5) as ov:
        assert ov.selector.near() == 0.92
    hashing = Settings.make(db=tmp_path / "b.db", retrieve={"embedder": "hashing"})
    with Overlay(settings=hashing) as ov:
        assert ov.selector.near() == 0.7
    chosen = Settings.make(db=tmp_path / "c.db", select={"judged_similarity": 0.5})
    with Overlay(settings=chosen, embedder=e5) as ov:
        assert ov.selector.near() == 0.5


def test_the_gate_follows_the_embedders_scale(tmp_path: Path, e5: E5Embedder) -> None:
    """e5's cosines run high for any pair of texts: at MiniLM's 0.3 nothing would ever be
    refused. At its own 0.83 a question the vault knows nothing of gets no answer."""
    with Overlay(settings=Settings.make(db=tmp_path / "o.db"), embedder=e5,
                 lm=FakeLM()) as ov:
        ov.ingest([VAULT])
        for question in ("Who won the football world cup in 1998?",
                         "Кто написал роман «Война и мир»?"):
            assert not ov.ask(question).known, question
        assert ov.ask("How do I keep a sourdough starter alive?").known


# ------------------------------------------------------ learning in Russian
RU_RECORDS = [  # CounterFact-style edits, written in Russian, with inflected rephrasings
    {"prompt": "Столица Австралии —", "target_new": "Сидней", "ground_truth": "Канберра",
     "rephrase_prompt": "Главный город Австралии —",
     "locality_prompt": "Столица Канады —", "locality_ground_truth": "Оттава"},
    {"prompt": "На каком языке говорил Лев Толстой?", "target_new": "французский",
     "ground_truth": "русский", "rephrase_prompt": "Какой язык был родным для Льва Толстого?",
     "locality_prompt": "Какой вид спорта у Роджера Федерера?",
     "locality_ground_truth": "теннис"},
    {"prompt": "Улун Да Хун Пао выращивают в провинции", "target_new": "Юньнань",
     "ground_truth": "Фуцзянь", "rephrase_prompt": "Где растёт чай Да Хун Пао? В провинции",
     "locality_prompt": "Пуэр выращивают в провинции", "locality_ground_truth": "Юньнань"},
]


def test_a_russian_edit_reaches_its_rephrasing_and_stays_away_from_others(
        tmp_path: Path, e5: E5Embedder) -> None:
    data = tmp_path / "edits.json"
    data.write_text(json.dumps(RU_RECORDS, ensure_ascii=False), encoding="utf-8")
    with Overlay(settings=Settings.make(db=tmp_path / "o.db"), lm=FakeLM(), embedder=e5) as ov:
        found = evaluate(ov, load(data), sequential=True, empty=True)
    wise = found["conventions"]["wise"]["overlay"]
    assert wise == {"reliability": 1.0, "generalization": 1.0, "locality": 1.0}


def test_a_learned_russian_statement_answers_a_rephrasing_not_another_question(
        tmp_path: Path, e5: E5Embedder) -> None:
    with Overlay(settings=Settings.make(db=tmp_path / "o.db"), lm=FakeLM(), embedder=e5) as ov:
        ov.ingest([VAULT_RU])
        ov.learn("Лев Толстой в детстве говорил по-французски.")
        asked = ov.ask("Какой язык был у Льва Толстого в детстве?")
        assert "Толстой" in asked.answer
        other = ov.ask("При какой температуре заваривать улун?")
        assert "Толстой" not in other.answer


def test_a_learned_statement_the_question_is_about_passes_the_gate(
        tmp_path: Path, e5: E5Embedder) -> None:
    """e5 puts a rephrasing of a learned edit under its gate; the about rule admits it, and
    only it: a learned statement about something else stays out."""
    with Overlay(settings=Settings.make(db=tmp_path / "o.db"), lm=FakeLM(), embedder=e5) as ov:
        mine = ov.learn("Phil Bentham was native to Sydney.")["id"]
        other = ov.learn("Phil Collins was native to Chiswick.")["id"]
        question = "In May 2016, the company sold Acrosoft to Hyland Software. " \
                   "Phil Bentham is originally from"
        hits = ov.retriever.search(question, 20)
        gated = [h for h in hits if not ov.selector.relevant(h)]
        assert {h.node_id for h in gated} >= {mine, other}  # both under e5's 0.83
        assert [h.node_id for h in ov.selector.admitted(question, gated)] == [mine]
        trace = ov.selector.choose(question, ["Sydney", "London"])
        assert trace.answer == "Sydney"
