"""What a learned statement is about (`overlay.retrieve.about`): runs, names, subjects and
the rule that lets a statement act on a question, on a small overlay of written statements."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlay import Overlay
from overlay.retrieve.about import is_about, names, runs, subjects
from overlay.select.selector import support

from .test_learning import fake

STATEMENTS = [  # several relations and subjects, so that relation words are common
    "The mother tongue of Danielle Darrieux is English.",
    "The mother tongue of Thomas Mann is German.",
    "The mother tongue of Léon Blum is French.",
    "In Denmark, the language spoken is English.",
    "In Finland, the language spoken is Swedish.",
    "The law in Philippines declares the language Finnish.",
    "The law in Jharkhand declares the language Spanish.",
    "Tampa International Airport, which was named for France.",
    "Fredriksen Island belongs to the continent of Europe.",
    "Player Mikael Lindholm played for which team? Los Angeles Kings.",
    "Boeing, founded in Manchester.",
    "IBM Network Control Program was developed by Boeing.",
    "The headquarters of Nokia are in Tokyo.",
]


@pytest.fixture(scope="module")
def overlay(tmp_path_factory: pytest.TempPathFactory) -> Overlay:
    ov = fake(tmp_path_factory.mktemp("about") / "o.db")
    for text in STATEMENTS:
        ov.learn(text)
    return ov


def stems(text: str) -> list[tuple[str, bool]]:
    return [(" ".join(r.stems), r.name) for r in runs(text)]


def test_runs_split_at_function_words_punctuation_possessives_and_case() -> None:
    assert stems("The mother tongue of Danielle Darrieux is English.") == [
        ("mother tongu", False), ("daniell darrieux", True), ("english", True)]
    assert stems("The sport of David Robinson's team is baseball.") == [
        ("sport", False), ("david robinson", True), ("team", False), ("basebal", False)]
    # an initial is not a sentence's end; digits take the case around them
    assert stems("Charles H. Goode met MG 13 engineers.")[0] == ("charl h good", True)
    assert ("mg 13", True) in stems("Charles H. Goode met MG 13 engineers.")
    # a sentence's first word before a name may or may not be the name's: both are kept
    assert stems("Player Mikael Lindholm played.")[:2] == [
        ("player mikael lindholm", True), ("mikael lindholm", True)]
    # "Bake" starts a sentence, so its case says nothing; "sourdough" is lowercase
    assert stems("Bake sourdough hot.") == [("bake", True), ("sourdough hot", False)]


def test_a_name_is_named_only_whole_and_not_as_part_of_a_longer_one() -> None:
    [dodge] = [r for r in runs("Dodge Charger, produced by BMW.") if r.stems[0] == "dodg"]
    assert names("Who made the Dodge Charger?", dodge)
    assert names("who made the dodge charger", dodge)  # a lowercase question too
    assert not names("Who made the Dodge?", dodge)
    assert not names("Who made the Dodge Charger Daytona?", dodge)
    [young] = [r for r in runs("He met Young at noon.") if r.stems == ("young",)]
    assert names("Where did Young grow up?", young)
    assert not names("Where did Neil Young grow up?", young)
    [island] = [r for r in runs("Fredriksen Island is cold.") if r.stems == ("island",)]
    assert not names("Alexander Island is in", island)  # it left "Fredriksen" off


def test_a_russian_name_is_named_however_it_is_inflected() -> None:
    # Snowball stems "Лев" and "Льва" apart; the dictionary form reads them as one name
    [tolstoy] = [r for r in runs("Лев Толстой писал по-французски.") if r.stems == ("лев", "толст")]
    assert names("Какой язык был родным для Льва Толстого?", tolstoy)
    assert not names("Какой язык был родным для Алексея Толстого?", tolstoy)
    # a dash breaks a run as a comma does: the answer is not part of the subject's name
    assert stems("Столица Австралии — Сидней.") == [
        ("столиц австрал", True), ("австрал", True), ("сидн", True)]
    assert stems("Ottawa - a city.")[0] == ("ottawa", True)


def test_a_question_is_about_a_statement_whose_subject_it_names(overlay: Overlay) -> None:
    store, about = overlay.store, "In Denmark, the language spoken is English."
    # the subject with other relation words: about; the relation with another subject: not
    assert is_about(store, "In Denmark, people speak", about)
    assert is_about(store, "What do people in Denmark speak?", about)
    assert not is_about(store, "In Norway, the language spoken is", about)
    law = "The law in Philippines declares the language Finnish."
    assert is_about(store, "The language used by people in Philippines is", law)
    assert not is_about(store, "The law in Iisalmi declares the language", law)
    # part of a name, with the relation: about; another entity with a shared word: not
    mother = "The mother tongue of Danielle Darrieux is English."
    assert is_about(store, "Darrieux's mother tongue is", mother)
    assert not is_about(store, "The mother tongue of Danielle Mitterrand is", mother)
    tampa = "Tampa International Airport, which was named for France."
    assert not is_about(store, "Tampa Executive Airport was named after", tampa)
    # a subject that other statements name as their object is still a subject
    assert is_about(store, "Boeing originated from", "Boeing, founded in Manchester.")
    player = "Player Mikael Lindholm played for which team? Los Angeles Kings."
    assert is_about(store, "Which team will Mikael Lindholm be associated with?", player)
    # "headquarters" is as rare here as "Nokia", but a statement that names something is
    # about its names
    nokia = "The headquarters of Nokia are in Tokyo."
    assert is_about(store, "Where is Nokia based?", nokia)
    assert not is_about(store, "The headquarters of Toyota are in", nokia)
    island = "Fredriksen Island belongs to the continent of Europe."
    assert not is_about(store, "Alexander Island is located in the continent", island)


def test_subjects_are_the_names_or_else_the_most_specific_run(overlay: Overlay) -> None:
    found = [r.stems for r in subjects(overlay.store, "The law in Jharkhand declares the "
                                       "language Spanish.")]
    assert found == [("jharkhand",), ("spanish",)]
    found = [r.stems for r in subjects(overlay.store, "the mother tongue of léon is french")]
    assert found == [("léon",)]  # no names in lowercase: the run with the rarest word


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["Anna", "Berg", "of", "the", "river", "Oslo", "is", "in",
                                 "green", "IBM", "42", ",", ".", "'s", "?", "Nokia"]),
                min_size=1, max_size=12))
def test_a_statement_is_about_itself_and_names_its_own_names(
    overlay: Overlay, words: list[str]
) -> None:
    text = " ".join(words).replace(" 's", "'s")
    for run in runs(text):
        assert run.stems  # never an empty run
        if run.name and not run.dropped:
            assert names(text, run)
    if any(r.stems for r in runs(text)) and any(w not in {"of", "the", "is", "in"}
                                                  for w in words if w.isalpha()):
        assert is_about(overlay.store, text, text)


def test_support_counts_repeats_and_prefers_the_option_that_states_more() -> None:
    statement = "In which universe does Captain Universe exist? Captain Universe."
    prompt = "In which universe does Captain Universe exist?"
    assert support("Captain Universe", statement, prompt) > support("Marvel Universe",
                                                                    statement, prompt)
    star = "The production company for Paano was what? Star Cinema of Philippines."
    asked = "The production company for Paano was what?"
    assert 1.0 == support("Star Cinema of Philippines", star, asked) > support(
        "Star Cinema", star, asked) > 0.9
    assert support("Kenya", "Kenya is located in Venezuela.", "Kenya is located in") == 0.0


def test_learned_statements_reach_questions_about_their_subject(tmp_path: Path) -> None:
    with fake(tmp_path / "o.db") as ov:
        for text in STATEMENTS:
            ov.learn(text)
        ids = {c.text for c in ov.selector.gather("In Denmark, people speak", "answer")}
        assert "In Denmark, the language spoken is English." in ids
        assert not {c.text for c in ov.selector.gather(
            "The law in Iisalmi declares the language", "answer")} & set(STATEMENTS)
