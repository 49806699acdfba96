"""`overlay dataset` end to end: schema, init (starter and from the overlay: the seed notes and
the example vault), build, check of a spec and of a built folder, and one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from overlay import cli

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "passport.yaml"


def run(*args: str) -> str:
    result = runner.invoke(cli.app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def main_exit(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "argv", ["overlay", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    return int(info.value.code or 0)


def test_schema_prints_the_json_schema() -> None:
    schema = json.loads(run("dataset", "schema"))
    assert schema["title"] == "Passport" and "Module" in schema["$defs"]


def test_starter_spec_checks_and_builds(tmp_path: Path) -> None:
    spec = tmp_path / "starter.yaml"
    assert "2 nodes" in run("dataset", "init", "-o", str(spec))
    report = json.loads(run("dataset", "check", str(spec), "--json"))
    assert report["ok"] and report["findings"] == []
    built = json.loads(run("dataset", "build", str(spec), "-o", str(tmp_path / "ds"), "--json"))
    assert built["self_tests"] == 2 and built["check"]["ok"]
    assert set(built["files"]) >= {"train.jsonl", "selftest.jsonl", "spec.yaml", "manifest.json"}


def test_init_from_the_seed_notes_checks_clean(seeds: Path, tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "o.db")]
    run("ingest", str(seeds), *db, "--create", "--embedder", "hashing")
    spec = tmp_path / "seeds.yaml"
    run("dataset", "init", "--from-overlay", "--name", "seeds", "-o", str(spec), *db)
    text = spec.read_text(encoding="utf-8")
    assert "# 70 links were left out" in text  # the seeds link to notes not in the export
    data = yaml.safe_load(text)
    nodes = [n for m in data["modules"] for n in m["nodes"]]
    assert len(nodes) == 5 and all(n["self_tests"] and n["statements"] for n in nodes)
    assert any("Харкевич" in s for n in nodes for s in n["statements"])  # repaired Russian
    assert not any(s.startswith("User -") for n in nodes for s in n["statements"])
    report = json.loads(run("dataset", "check", str(spec), "--json"))
    assert report["ok"], report["findings"]


def test_init_selects_by_tag_and_goal(vault: Path, tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "o.db")]
    run("ingest", str(vault), *db, "--create", "--embedder", "hashing")
    by_tag = yaml.safe_load(run("dataset", "init", "--from-overlay", "--tag", "starter", *db))
    titles = {n["title"] for m in by_tag["modules"] for n in m["nodes"]}
    assert titles == {"Starter", "Levain", "Feeding a starter", "Float test", "Hooch",
                      "Starter troubleshooting"}
    goal = "Goal - a reliable weekly loaf"
    by_goal = yaml.safe_load(run("dataset", "init", "--from-overlay", "--goal", goal, *db))
    titles = {n["title"] for m in by_goal["modules"] for n in m["nodes"]}
    assert goal in titles and {"Storing a starter", "Cold retard", "Crumb"} <= titles
    by_folder = yaml.safe_load(run("dataset", "init", "--from-overlay", *db))
    assert [m["id"] for m in by_folder["modules"]] == ["journal", "vault"]
    method = next(n for m in by_folder["modules"] for n in m["nodes"] if n["id"] == "levain")
    assert {"to": "float-test", "relation": "precedes"} in method["transitions"]


def test_build_then_check_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    text = run("dataset", "build", str(EXAMPLE), "-o", str(out), "--seed", "3")
    assert "396 training items, 33 self-tests held out" in text and "clean" in text
    report = json.loads(run("dataset", "check", str(out), "--json"))
    assert report["ok"] and report["counted"]["nodes"] == 33


def test_failing_checks_and_bad_specs_exit_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["modules"][0]["nodes"][0]["anchors"].append("[[Nowhere]]")
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    code = main_exit(["dataset", "check", str(bad), "--no-tokens"], monkeypatch)
    captured = capsys.readouterr()
    assert code == 1 and "dangling-anchor" in captured.out
    assert captured.err == f"error: {bad}: 1 design-rule errors\n"

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nmodules:\n  - id: m\n    nodes:\n      - id: a\n", encoding="utf-8")
    code = main_exit(["dataset", "build", str(broken), "-o", str(tmp_path / "o")], monkeypatch)
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and f"{broken}:5:9:" in err
    assert not (tmp_path / "o").exists()

    spec = tmp_path / "s.yaml"
    spec.write_text("keep me", encoding="utf-8")
    code = main_exit(["dataset", "init", "-o", str(spec)], monkeypatch)
    assert code == 1 and "add --force" in capsys.readouterr().err
    assert spec.read_text(encoding="utf-8") == "keep me"
