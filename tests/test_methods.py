"""Methods: the step grammar, its errors with line numbers, and bounded runs with a path."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlay import Overlay, Settings
from overlay.errors import MethodError, NotFoundError
from overlay.methods import parse
from tests.conftest import VAULT_RU

METHOD = """\
1. Build a [[Levain]] the evening before.
2. Check the levain with the [[Float test]].
3. If the levain floats → step 4, otherwise → step 2 (after waiting one hour).
4. Mix and bake.
   Let it cool before cutting.
5. Stop.
"""


def test_parse_steps_branches_and_continuations() -> None:
    method = parse(METHOD, "Bake", "m.md", first_line=10)
    assert list(method.steps) == [1, 2, 3, 4, 5]
    branch = method.steps[3].branch
    assert branch is not None
    assert (branch.condition, branch.yes, branch.no) == ("the levain floats", 4, 2)
    assert branch.note == "after waiting one hour"
    assert method.steps[3].line == 12
    assert method.steps[4].text.endswith("Let it cool before cutting.")
    assert method.steps[5].ends and not method.steps[4].ends


def test_ascii_arrows_and_end_targets() -> None:
    method = parse("1. If it is done -> end, else -> step 2\n2. Wait.\n")
    branch = method.steps[1].branch
    assert branch is not None and (branch.yes, branch.no) == (None, 2)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1. a\n3. b\n", 2, "step 3 where step 2"),
        ("1. a\n2. If x → step 9, otherwise → step 1\n", 2, "does not exist"),
        ("1. a\n\n2. If x → step one or maybe two\n", 3, "does not follow"),
        ("just prose\n", 1, "no numbered steps"),
    ],
)
def test_grammar_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(MethodError, match=message) as info:
        parse(text, path="notes/m.md")
    assert info.value.line == line and str(info.value).startswith(f"notes/m.md:{line}:")


def test_if_without_a_jump_is_a_plain_step() -> None:
    method = parse("1. If in doubt, wait a day.\n")
    assert method.steps[1].branch is None


@given(st.lists(st.text(alphabet="abc xyz", min_size=1, max_size=20).map(str.strip), max_size=8))
def test_numbered_steps_round_trip(bodies: list[str]) -> None:
    bodies = [b for b in bodies if b]
    text = "".join(f"{i}. {b}\n" for i, b in enumerate(bodies, 1))
    if not bodies:
        with pytest.raises(MethodError):
            parse(text)
        return
    method = parse(text)
    assert [s.text for s in method.steps.values()] == bodies


def test_run_follows_the_path_and_bounds_loops(tmp_path: Path) -> None:
    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "Loop.md").write_text(
        "---\nkind: method\n---\n# Loop\n\n1. Look at the dough.\n"
        "2. If the dough is ready → step 3, otherwise → step 1\n3. Bake it.\n"
    )
    settings = Settings.make(
        db=tmp_path / "o.db",
        retrieve={"embedder": "hashing"},
        lm={"model": "fake"},
        select={"max_visits": 2, "step_tokens": 4},
    )
    with Overlay(settings=settings) as ov:
        ov.ingest([vault])
        trace = ov.run("loop", "a dough")
        path = trace.settings["path"]
        assert path[0] == 1 and path[-1] == 3
        assert path.count(1) <= 2
        branches = [s for s in trace.steps if s.branch]
        assert branches and all(b.branch and "Yes" in b.branch["options"] for b in branches)
        assert ov.trace(trace.id).steps == trace.steps
        with pytest.raises(NotFoundError, match="no method"):
            ov.run("nothing like it", "x")


def test_example_method_runs_with_the_real_model(smol_vault: Overlay) -> None:
    method = smol_vault.method("Bake a sourdough loaf")
    assert len(method.steps) == 11 and method.steps[3].branch is not None
    assert method.steps[3].line == 12
    trace = smol_vault.run("Bake a sourdough loaf", "The levain floats; the dough is domed.")
    path = trace.settings["path"]
    assert path[:3] == [1, 2, 3] and path[-1] == 11
    assert all(s.output for s in trace.steps if not s.branch)
    assert all(s.nodes for s in trace.spans)  # every step of this method has a note to cite


def cited_names(ov: Overlay, title: str, task: str) -> tuple[int, int]:
    """Run a method; check no step cites the method and every step that links a note cites
    that note (or a block of it). Returns (action steps, steps citing a note they name)."""
    method = ov.method(title)
    own = {n.id for n in ov.store.nodes_of_source(method.path or "")}
    trace = ov.run(title, "The task at hand.")
    actions = named = 0
    for step in trace.steps:
        if step.branch or method.steps[step.number].ends:
            continue
        actions += 1
        assert step.nodes and not set(step.nodes) & own, (step.number, step.output)
        links = method.steps[step.number].links
        if links:
            linked = {ov.store.get_node(i).source_path for i in links}  # type: ignore[union-attr]
            cited = {ov.store.get_node(i).source_path for i in step.nodes}  # type: ignore[union-attr]
            assert cited <= linked, (step.number, cited, linked)
            named += 1
        assert step.considered and step.considered[0]["chosen"]
        assert step.considered[0]["node"] == step.nodes[0]
    return actions, named


def test_each_step_cites_the_notes_it_names_not_the_method(smol_vault: Overlay) -> None:
    actions, named = cited_names(smol_vault, "Bake a sourdough loaf",
                                 "Saturday's loaf. The levain floats in water.")
    assert actions == 9 and named >= 7


@pytest.mark.slow
def test_a_russian_method_cites_the_notes_it_names(tmp_path: Path, smol: object,
                                                   e5: object) -> None:
    with Overlay(settings=Settings.make(db=tmp_path / "o.db"), lm=smol,  # type: ignore[arg-type]
                 embedder=e5) as ov:  # type: ignore[arg-type]
        ov.ingest([VAULT_RU])
        actions, named = cited_names(ov, "Заварить улун в гайвани",
                                     "Утренний улун, лист скручен в плотные шарики.")
    assert actions >= 7 and named == actions


def test_a_step_nothing_speaks_to_says_so(tmp_path: Path) -> None:
    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "Plan.md").write_text("---\nkind: method\n---\n# Plan\n\n"
                                   "1. Calibrate the flux capacitor.\n2. End.\n")
    settings = Settings.make(db=tmp_path / "o.db", retrieve={"embedder": "hashing"},
                             lm={"model": "fake"})
    with Overlay(settings=settings) as ov:
        ov.ingest([vault])
        trace = ov.run("Plan", "Monday")
    assert trace.steps[0].output == "Nothing in the overlay speaks to this step."
    assert trace.steps[0].nodes == [] and trace.spans[0].origin == "none"
