"""Hostile and awkward input: an alias bomb in every YAML the project reads (bounded in time
and memory, a positioned error, the rest goes on), symlink loops, encodings, a vault moved or
read from a subfolder, two vaults with one folder name, methods that cannot end, oversized
specs, and fuzzing of the note parser and the spec loader."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlay import Overlay, Settings
from overlay.config import DatasetConfig
from overlay.dataset import check, load_spec
from overlay.errors import MethodError, OverlayError, SpecError
from overlay.ingest.markdown import parse_note
from overlay.ingest.repair import decode
from overlay.methods import parse
from overlay.signals.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from overlay.cli import main; main()"]
EDF = ROOT / "examples" / "signals" / "eyes-closed.edf"


def bomb(levels: int = 9) -> str:
    """A "billion laughs": nine levels of nine aliases, 387 million strings when expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in list(zip("abcdefgh", "bcdefghi", strict=True))[: levels - 1]:
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


def capped(cmd: list[str], gib: int = 3, timeout: float = 90,
           **kw: object) -> subprocess.CompletedProcess[str]:
    """Run `cmd` with its address space capped at `gib` GiB and a time limit."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (gib << 30, gib << 30))

    done: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=cap, check=False, **kw)
    return done


# ------------------------------------------------------------------ YAML
def test_an_alias_bomb_in_frontmatter_costs_one_warning(tmp_path: Path) -> None:
    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "bomb.md").write_text("---\n" + bomb() + "---\n# Bomb\n")
    (vault / "good.md").write_text("# Good\n\nA starter is flour and water.\n")
    done = capped([*CLI, "ingest", str(vault), "--db", str(tmp_path / "o.db"), "--create",
                   "--embedder", "hashing", "--json"])
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["added"] == 1
    assert any("bomb.md:2: bad YAML frontmatter: anchors and aliases" in w
               for w in report["warnings"]), report["warnings"]


def test_an_alias_bomb_in_a_spec_or_rules_is_a_positioned_error(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n" + bomb() + "modules: []\n")
    done = capped([*CLI, "dataset", "check", str(spec), "--no-tokens"])
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert f"{spec}:" in done.stderr and "aliases expand this document" in done.stderr
    rules = tmp_path / "rules.yaml"
    rules.write_text(bomb() + "rules: []\n")
    done = capped([*CLI, "signal", "watch", str(EDF), "--rules", str(rules), "--duration", "1",
                   "--db", str(tmp_path / "o.db")])
    assert done.returncode == 1 and "aliases expand this document" in done.stderr, done.stderr
    with pytest.raises(SpecError, match=r"rules\.yaml:\d+:\d+: aliases expand"):
        load_rules(rules)


def test_self_referencing_and_deep_yaml_are_refused() -> None:
    with pytest.raises(SpecError, match="contains it"):
        from overlay.yamlfile import compose

        compose("a: &x [*x]\n", "f.yaml")
    with pytest.raises(SpecError, match="nested more than"):
        compose("a:\n" + "".join("  " * (i + 1) + "- \n" for i in range(300)), "f.yaml")
    with pytest.raises(SpecError, match="over the 100-byte limit"):
        compose("a: " + "x" * 200, "f.yaml", max_bytes=100)


def test_every_unknown_spec_field_is_named(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("name: x\nmodules:\n  - id: m\n    nodes:\n      - id: a\n"
                    "        statements: [x]\n        colour: red\n        size: 3\n")
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    assert "colour (line 7)" in str(info.value) and "size (line 8)" in str(info.value)


def test_spec_size_and_node_limits(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "x", "modules": [{"id": "m", "nodes": [
        {"id": f"n{i}", "statements": [f"Node {i} is here."]} for i in range(5)]}]}))
    with pytest.raises(SpecError, match="over the 10-byte limit"):
        load_spec(spec, DatasetConfig(max_spec_bytes=10))
    with pytest.raises(SpecError, match="5 nodes, over the limit of 3"):
        load_spec(spec, DatasetConfig(max_spec_nodes=3))


def test_repeated_statements_are_reported_once_each_not_pairwise(tmp_path: Path) -> None:
    """200 copies of one sentence give 199 findings (each against the first), not 19,900
    pairs: the near-duplicate rule stays linear however repetitive the spec."""
    spec = tmp_path / "s.yaml"
    nodes = [{"id": f"n{i}", "statements": ["See the note about the levain and this."]}
             for i in range(200)]
    spec.write_text(yaml.safe_dump({"name": "x", "modules": [{"id": "m", "nodes": nodes}]}))
    report = check(spec)
    assert report.by_rule().get("near-duplicate") == 199


# --------------------------------------------------------------- vaults
def open_store(db: Path) -> Overlay:
    return Overlay(settings=Settings.make(db=db, retrieve={"embedder": "hashing"}))


def test_a_symlink_loop_is_one_warning(tmp_path: Path) -> None:
    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "good.md").write_text("# Good\n\nfine\n")
    (vault / "loop.md").symlink_to(vault / "loop.md")
    (vault / "a.md").symlink_to(vault / "b.md")
    (vault / "b.md").symlink_to(vault / "a.md")
    with open_store(tmp_path / "o.db") as ov:
        report = ov.ingest([vault])
    assert report.added == 1
    loops = [w for w in report.warnings if "symlink loop" in w]
    assert len(loops) == 3, report.warnings


def test_a_moved_vault_keeps_its_node_ids(tmp_path: Path, vault: Path) -> None:
    with open_store(tmp_path / "o.db") as ov:
        first = ov.ingest([vault])
        ids = {n.id for n in ov.store.iter_nodes()}
        moved = vault.rename(tmp_path / "myvault")
        again = ov.ingest([moved])
        assert (again.added, again.renamed, again.deleted) == (0, first.added, 0)
        assert {n.id for n in ov.store.iter_nodes()} == ids
        assert {r.path.split("/")[0] for r in ov.store.files()} == {"myvault"}
        assert ov.stats()["unresolved_links"] == 0


def test_a_subfolder_is_read_from_the_vault_root(tmp_path: Path, vault: Path) -> None:
    (vault / "journal" / "Rel.md").write_text("# Rel\n\nSee [the starter](../Starter.md).\n")
    with open_store(tmp_path / "o.db") as ov:
        ov.ingest([vault])
        nodes = ov.stats()["nodes"]
        sub = ov.ingest([vault / "journal"])
        assert sub.added == 0 and ov.stats()["nodes"] == nodes
        assert ov.stats()["unresolved_links"] == 0
    with open_store(tmp_path / "fresh.db") as ov:  # the vault is known: named from its root
        ov.ingest([vault / "journal"])
        assert all(r.path.startswith("vault/journal/") for r in ov.store.files())
        ov.ingest([vault])
        assert ov.stats()["unresolved_links"] == 0


def test_a_subfolder_ingested_before_its_vault_joins_it(tmp_path: Path, vault: Path) -> None:
    (vault / "journal" / "Rel.md").write_text("# Rel\n\nSee [the starter](../Starter.md).\n")
    with open_store(tmp_path / "o.db") as ov:
        ov.ingest([vault / "journal"])  # a vault of its own, for now
        ids = {n.id: n.text for n in ov.store.iter_nodes()}
        report = ov.ingest([vault])
        assert report.renamed == len({r.path for r in ov.store.files()
                                      if r.path.startswith("vault/journal/")})
        after = {n.id: n.text for n in ov.store.iter_nodes()}
        assert ids.items() <= after.items()  # the journal's notes kept their ids
        assert ov.stats()["unresolved_links"] == 0
        assert not (vault / "journal" / ".overlay-vault").exists()


def test_two_vaults_with_one_folder_name_stay_apart(tmp_path: Path) -> None:
    for side in ("home", "work"):
        (tmp_path / side / "notes").mkdir(parents=True)
        (tmp_path / side / "notes" / "Plan.md").write_text(f"# Plan\n\nThe {side} plan.\n")
    with open_store(tmp_path / "o.db") as ov:
        ov.ingest([tmp_path / "home" / "notes"])
        ov.ingest([tmp_path / "work" / "notes"])
        paths = sorted(r.path for r in ov.store.files())
    assert "notes/Plan.md" in paths and len(paths) == 2
    assert [p for p in paths if p.startswith("notes-") and p.endswith("/Plan.md")]


def test_concurrent_ingests_take_turns(tmp_path: Path, vault: Path) -> None:
    db = tmp_path / "o.db"
    open_store(db).close()
    runs = [subprocess.Popen([*CLI, "ingest", str(vault), "--db", str(db), "--embedder",
                              "hashing", "--json"], stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
    reports = [json.loads(p.communicate(timeout=120)[0]) for p in runs]
    assert sorted(r["added"] for r in reports) == [0, reports[0]["files"]]
    assert sorted(r["unchanged"] for r in reports) == [0, reports[0]["files"]]


def test_a_missing_store_is_not_made_by_accident(tmp_path: Path) -> None:
    db = tmp_path / "typo" / "o.db"
    for args in (["learn", "A fact."], ["search", "x"], ["ingest", str(ROOT / "examples")]):
        done = subprocess.run([*CLI, *args, "--db", str(db), "--embedder", "hashing"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and "run `overlay init` first" in done.stderr
    assert not db.parent.exists()


# ------------------------------------------------------------- encodings
def test_encodings(tmp_path: Path) -> None:
    assert decode("crème brûlée, déjà vu\n".encode("latin-1")).text == "crème brûlée, déjà vu\n"
    assert decode("# Note\nhello wörld\n".encode("utf-16")).text == "# Note\nhello wörld\n"
    assert decode("# Note\nhello wörld\n".encode("utf-32")).encoding == "utf-32"
    assert decode("Привет, мир — это тест.\n".encode("cp1251")).encoding == "cp1251"
    vault = tmp_path / "v"
    (vault / "old").mkdir(parents=True)
    (vault / "old" / ".overlay-encoding").write_text("cp1252\n")
    (vault / "old" / "menu.md").write_bytes("# Menü\n\nCafé crème.\n".encode("cp1252"))
    (vault / "utf16.md").write_bytes("# Wide\n\nA wide note.\n".encode("utf-16"))
    with open_store(tmp_path / "o.db") as ov:
        report = ov.ingest([vault])
        assert report.added == 2 and not [w for w in report.warnings if "skipped" in w]
        texts = {n.text for n in ov.store.iter_nodes()}
    assert "Café crème." in texts and "A wide note." in texts
    done = subprocess.run([*CLI, "ingest", str(vault / "old" / "menu.md"), "--db",
                           str(tmp_path / "e.db"), "--create", "--embedder", "hashing",
                           "--encoding", "latin-1", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and json.loads(done.stdout)["warnings"] == []


# ---------------------------------------------------------------- methods
def test_a_step_that_cannot_reach_the_end_is_a_parse_error() -> None:
    with pytest.raises(MethodError, match="step 2 can never reach the end") as info:
        parse("1. Mix.\n2. If it is ready → step 2, otherwise → step 2\n3. Bake.\n",
              path="m.md")
    assert info.value.line == 2
    with pytest.raises(MethodError, match="step 1 can never reach the end"):
        parse("1. If cold → step 2, otherwise → step 2\n2. If warm → step 1, otherwise → step 1\n")
    parse("1. Mix.\n2. If it is ready → step 3, otherwise → step 2\n3. Bake.\n")  # a wait


def test_a_cut_loop_ends_and_the_run_says_so(tmp_path: Path) -> None:
    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "Wait.md").write_text("---\nkind: method\n---\n# Wait\n\n"
                                   "1. If the dough is ready → step 2, otherwise → step 1\n"
                                   "2. If it smells sour → step 1, otherwise → end\n")
    db = tmp_path / "o.db"
    with Overlay(settings=Settings.make(db=db, retrieve={"embedder": "hashing"},
                                        lm={"model": "fake"}, select={"max_visits": 2})) as ov:
        ov.ingest([vault])
    done = subprocess.run([*CLI, "run", "Wait", "--input", "dough", "--db", str(db),
                           "--embedder", "hashing", "--model", "fake", "--json"],
                          capture_output=True, text=True, timeout=60)
    trace = json.loads(done.stdout)
    notes = [s["branch"]["note"] for s in trace["steps"] if s["branch"] and s["branch"]["note"]]
    assert len(trace["steps"]) < 40 and len(notes) == len(set(notes))
    if trace["settings"].get("stopped"):
        assert done.returncode == 1 and "the run stopped" in done.stderr
    else:
        assert done.returncode == 0


# ------------------------------------------------------------------ fuzz
@settings(max_examples=150, deadline=2000, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=2000))
def test_fuzz_bytes_into_the_note_reader(raw: bytes) -> None:
    try:
        decoded = decode(raw)
        parse_note(decoded.text, "f.md", "f")
    except OverlayError:
        pass
    except ValueError as exc:  # NotText is a ValueError the ingest turns into a warning
        assert type(exc).__name__ == "NotText"


YAMLISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=30,
)


@settings(max_examples=150, deadline=3000, suppress_health_check=list(HealthCheck))
@given(YAMLISH, st.text(max_size=300))
def test_fuzz_specs_and_frontmatter(data: object, noise: str) -> None:
    path = Path(tempfile.gettempdir()) / f"overlay-fuzz-{os.getpid()}.yaml"
    for text in (yaml.safe_dump(data), noise, "---\n" + noise + "\n---\nbody"):
        path.write_text(text, encoding="utf-8")
        with contextlib.suppress(OverlayError):
            load_spec(path)
        with contextlib.suppress(OverlayError):
            parse_note(text, "f.md", "f")

