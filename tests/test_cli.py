"""End-to-end tests of every command through the CLI runner, with an isolated store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overlay import ConfigError, Overlay, Settings, cli
from overlay.retrieve import HashingEmbedder

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(cli.app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_init_then_stats(tmp_path: Path) -> None:
    db = str(tmp_path / "x" / "o.db")
    assert "overlay store ready" in run("init", "--db", db)
    stats = json.loads(run("stats", "--db", db, "--json"))
    assert stats["nodes"] == 0 and stats["schema_version"] >= 1


def test_default_db_comes_from_the_environment(tmp_path: Path) -> None:
    data = json.loads(run("init", "--json"))
    assert data["db"].endswith("home/overlay.db")


def test_ingest_search_show_links_on_the_vault(vault: Path, tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "o.db")]
    report = json.loads(run("ingest", str(vault), *db, "--create", "--json", "--embedder",
                            "hashing"))
    assert report["added"] == report["files"] >= 30
    text = run("ingest", str(vault), *db, "--embedder", "hashing")
    assert f"{report['files']} unchanged" in text

    hits = json.loads(
        run("search", "hooch alcohol", "-k", "3", *db, "--json", "--embedder", "hashing")
    )
    assert len(hits) == 3 and hits[0]["source"] == "vault/Hooch.md"
    assert {"id", "kind", "title", "snippet", "source", "line", "score", "parts"} <= set(hits[0])
    assert "vault/Hooch.md" in run("search", "hooch", *db, "--embedder", "hashing")

    shown = json.loads(run("show", hits[0]["id"][:6], *db, "--json"))
    assert shown["id"] == hits[0]["id"] and shown["source"] == "vault/Hooch.md"
    assert "Hooch" in run("show", hits[0]["id"], *db)

    links = json.loads(run("links", *db, "--json"))
    assert len(links) > 50 and all(r["to"] for r in links)
    assert "no unresolved links" in run("links", "--unresolved", *db)


@pytest.mark.slow
def test_seeds_with_the_default_embedder(seeds: Path, tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "o.db")]
    report = json.loads(run("ingest", str(seeds), *db, "--create", "--json"))
    assert report["files"] == 5 and report["repaired"] == 5 and report["links"] == 70
    hits = json.loads(run("search", "Харкевич", *db, "--json"))
    assert hits[0]["source"] == "seeds/003_88ea89ca3104fdae.txt"
    assert "Харкевич" in hits[0]["title"] + hits[0]["snippet"]
    unresolved = json.loads(run("links", "--unresolved", *db, "--json"))
    assert len(unresolved) == 70 and unresolved[0]["source"].startswith("seeds/")


def main_exit(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "argv", ["overlay", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    return int(info.value.code or 0)


def test_errors_are_one_line_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main_exit(["search", "x", "--db", str(tmp_path / "none.db")], monkeypatch)
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "overlay init" in err
    assert "Traceback" not in err

    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite" * 100)
    code = main_exit(["stats", "--db", str(junk)], monkeypatch)
    err = capsys.readouterr().err
    assert code == 1 and "not an overlay store" in err and err.count("\n") == 1
    assert junk.read_text() == "not sqlite" * 100  # nothing written to a file we don't own

    run("init", "--db", str(tmp_path / "o.db"))
    code = main_exit(["show", "feedbeef", "--db", str(tmp_path / "o.db")], monkeypatch)
    assert code == 1 and "no node with id" in capsys.readouterr().err

    code = main_exit(
        [
            "ingest",
            str(tmp_path / "nowhere"),
            "--db",
            str(tmp_path / "o.db"),
            "--embedder",
            "hashing",
        ],
        monkeypatch,
    )
    assert code == 1 and "no such file or folder" in capsys.readouterr().err

    code = main_exit(
        ["search", "x", "--db", str(tmp_path / "o.db"), "--embedder", "nonsense"], monkeypatch
    )
    assert code == 1 and "unknown embedder 'nonsense'" in capsys.readouterr().err

    db = str(tmp_path / "o.db")
    for args, said in ((["undo", "99999999999999999999"], "no event 99999999999999999999"),
                       (["undo", "0"], "no event 0"),
                       (["search", "  ", "--embedder", "hashing"], "the search is empty")):
        code = main_exit([*args, "--db", db], monkeypatch)
        err = capsys.readouterr().err
        assert code == 1 and said in err and err.count("\n") == 1, err
        assert "unexpected" not in err


def test_search_refuses_to_mix_embedders(tmp_path: Path) -> None:
    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "a.md").write_text("alpha")
    db = str(tmp_path / "o.db")
    run("ingest", str(vault), "--db", db, "--create", "--embedder", "hashing")
    assert "alpha" in run("search", "alpha", "--db", db, "--embedder", "none")  # lexical only
    mixed = Overlay(settings=Settings.make(db=db), embedder=HashingEmbedder(32))
    with pytest.raises(ConfigError, match="made by hashing-256, not hashing-32"):
        mixed.search("alpha")


def test_cli_reference_in_docs_is_current() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    assert docs.read_text() == cli.reference() + "\n", "run `make docs` to regenerate docs/cli.md"


def test_ask_choose_run_trace_end_to_end(vault: Path, tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "o.db")]
    fake = ["--model", "fake", "--embedder", "hashing"]
    run("ingest", str(vault), *db, "--create", "--embedder", "hashing")
    text = run("ask", "how do I feed a starter", *db, *fake)
    assert "cited:" in text and "trace " in text
    data = json.loads(run("ask", "how do I feed a starter", *db, *fake, "--json"))
    assert data["spans"] and all(s["nodes"] for s in data["spans"])
    shown = run("trace", data["id"][:8], *db)
    assert data["id"] in shown and "candidates" in shown
    assert json.loads(run("trace", data["id"], *db, "--json")) == data
    composed = json.loads(run("ask", "feed a starter", *db, *fake, "--mode", "compose", "--json"))
    assert composed["mode"] == "compose"
    choice = json.loads(
        run("choose", "A levain is", "-o", "starter and flour", "-o", "oil", *db, *fake, "--json")
    )
    assert sorted(c["rank"] for c in choice["candidates"]) == [1, 2]
    table = run("choose", "A levain is", "-o", "a", "-o", "b", *db, *fake)
    assert "notes support" in table and "a token" in table
    out = run("run", "Bake a sourdough loaf", "--input", "a loaf", *db, *fake)
    assert "path: 1 → 2 → 3" in out
    steps = json.loads(run("run", "Bake a sourdough loaf", "-i", "x", *db, *fake, "--json"))
    assert steps["steps"][2]["branch"]["condition"] == "the levain floats"


def test_selection_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "o.db")
    for args in (
        ["trace", "nope", "--db", db],
        ["ask", "x", "--mode", "poem", "--db", db, "--model", "fake"],
        ["run", "missing", "-i", "x", "--db", db, "--model", "fake"],
        ["ask", "x", "--db", db, "--model", str(tmp_path / "no-model")],
    ):
        with pytest.raises(SystemExit) as info:
            sys.argv = ["overlay", *args]
            cli.main()
        assert info.value.code == 1
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), lines


def test_learning_commands_end_to_end(vault: Path, tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "o.db")]
    fake = ["--model", "fake", "--embedder", "hashing"]
    hashing = ["--embedder", "hashing"]
    run("ingest", str(vault), *db, "--create", *hashing)
    learned = json.loads(
        run("learn", "Rye starters like it warm.", "--goal", "g", *db, *hashing, "--json")
    )
    assert learned["id"] in run("search", "rye starters warm", *db, *hashing)
    asked = json.loads(run("ask", "how do I feed a starter", *db, *fake, "--json"))
    fb = json.loads(
        run(
            "feedback",
            asked["id"],
            "bad",
            "--correct",
            "Feed it twice a day.",
            *db,
            *hashing,
            "--json",
        )
    )
    assert fb["correction"] and fb["counted"]
    taught = json.loads(run("weights", "explain", *db, "--json"))
    assert {r["term"] for r in taught} == {"lm", "retrieval", "information", "activation"}
    assert sum(r["picks_bad"] for r in taught) >= 1 and all(r["goal"] == "answer" for r in taught)
    assert "score weights" in run("weights", "explain", "--goal", "answer", *db)
    hist = json.loads(run("history", *db, "--json"))
    assert hist[0]["kind"] == "feedback" and hist[0]["undoable"]
    assert "undid event" in run("undo", str(fb["event"]), *db, *hashing)
    assert json.loads(run("history", *db, "--json"))[1]["undone"]
    reverted = json.loads(run("revert", "--to", "1", *db, *hashing, "--json"))
    assert learned["event"] in reverted["undid"]
    other = ["--db", str(tmp_path / "other.db")]
    run("learn", "A second overlay's fact.", *other, "--create", *hashing)
    assert "imported 1 change" in run("merge", str(tmp_path / "other.db"), *db, *hashing)
    assert "nothing new" in run("merge", str(tmp_path / "other.db"), *db, *hashing)
    assert isinstance(json.loads(run("insights", *db, "--json", "--min-asks", "1")), list)
    data = tmp_path / "edits.jsonl"
    data.write_text(
        json.dumps(
            {
                "prompt": "What is the capital of Zembla?",
                "target_new": "Kinbote",
                "ground_truth": "Onhava",
                "rephrase_prompt": "Zembla's capital city is",
                "locality_prompt": "The capital of France is",
                "locality_ground_truth": "Paris",
            }
        )
        + "\n"
    )
    result = json.loads(run("eval", "edits", "--data", str(data), *db, *fake, "--json"))
    assert result["records"] == 1 and set(result["overlay"]) == {
        "reliability",
        "generalization",
        "locality",
    }
    conventions = result["conventions"]
    assert set(conventions["counterfact"]["overlay"]) == {"efficacy", "paraphrase", "neighbourhood"}
    assert "WISE" in conventions["about"]["wise"]
    shown = run("eval", "edits", "--data", str(data), *db, *fake)
    assert "WISE/GRACE convention" in shown and "CounterFact convention" in shown
    with data.open("a") as f:  # every record learned, one of the two measured
        f.write(data.read_text().replace("Zembla", "Ruritania"))
    sampled = json.loads(run("eval", "edits", "--data", str(data), *db, *fake, "--sample", "1",
                             "--no-wise", "--json"))
    assert (sampled["records"], sampled["measured"]) == (2, 1)
    assert sampled["conventions"]["wise"] is None and sampled["groups"]["sample"]["records"] == 1
    shown = run("eval", "edits", "--data", str(data), *db, *fake, "--no-wise")
    assert "WISE/GRACE convention" not in shown and "CounterFact convention" in shown
    assert json.loads(run("stats", *db, "--json"))["nodes"] > 0  # the store was not touched


def test_eval_edits_refuses_bad_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "bad.json"
    data.write_text('[{"prompt": "x"}]')
    with pytest.raises(SystemExit) as info:
        sys.argv = [
            "overlay",
            "eval",
            "edits",
            "--data",
            str(data),
            "--db",
            str(tmp_path / "o.db"),
            "--model",
            "fake",
            "--embedder",
            "hashing",
        ]
        cli.main()
    assert info.value.code == 1
    assert "record 0 lacks target_new" in capsys.readouterr().err


def test_eval_ranking_end_to_end(
    vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = ["--db", str(tmp_path / "o.db")]
    fake = ["--model", "fake", "--embedder", "hashing"]
    run("ingest", str(vault), *db, "--create", "--embedder", "hashing")
    questions = tmp_path / "q.json"
    questions.write_text(json.dumps([
        {"question": "What is the grey liquid on a starter?", "gold": ["Hooch"]},
        {"question": "How do I do the poke test?", "gold": ["Poke test"]},
        {"question": "How long does an autolyse rest?", "gold": ["Autolyse"]},
    ]))
    found = json.loads(run("eval", "ranking", "--questions", str(questions), *db, *fake, "--json"))
    assert found["questions"] == 3
    assert set(found["out_of_the_box"]) == {"retrieval", "lm", "selector", "selector_vs_retrieval"}
    assert sum(found["verdicts"].values()) == 3
    shown = run("eval", "ranking", "--questions", str(questions), *db, *fake)
    assert "retrieval alone" in shown and "the selector's score" in shown
    assert json.loads(run("stats", *db, "--json"))["traces"] == 0  # a scratch copy was used
    questions.write_text(json.dumps([{"question": "x", "gold": ["No such note"]}]))
    bad = ["eval", "ranking", "--questions", str(questions), *db, *fake]
    assert main_exit(bad, monkeypatch) == 1


def test_memories_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chat exports ingest as turns; search and ask keep to a speaker and to dates, or to
    the time the question names; eval memory ranks a LoCoMo conversation's evidence."""
    from tests.test_memories import LOCOMO, MEMORIES

    db = ["--db", str(tmp_path / "o.db")]
    fake = ["--model", "fake", "--embedder", "hashing"]
    folder = tmp_path / "memories"
    folder.mkdir()
    for f in MEMORIES.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    run("ingest", str(folder), *db, "--create", "--embedder", "hashing")
    hits = json.loads(run("search", "croissants", "--speaker", "Boris", *db, *fake[2:],
                          "--json"))
    assert hits and {h["speaker"] for h in hits} == {"Boris"}
    text = run("search", "croissants last May", *db, *fake[2:])
    assert "within 2024-05-01 to 2024-06-01" in text and "“last May”" in text
    asked = run("ask", "Who did Anna hire as a second baker?", "--since", "2024-06",
                "--until", "2024-06", *db, *fake)
    assert "Chen" in asked and "2024-06-20 07:30, Session 3" in asked
    assert "within since 2024-06-01, until 2024-07-01" in asked
    bad = ["search", "x", "--since", "someday", *db, *fake[2:]]
    assert main_exit(bad, monkeypatch) == 1

    conversations = tmp_path / "locomo.json"
    conversations.write_text(json.dumps(LOCOMO), encoding="utf-8")
    found = json.loads(run("eval", "memory", str(conversations), *fake, "--json"))
    assert found["questions"] == 3 and set(found["all"]) >= {"lexical", "dense", "hybrid", "ask"}
    table = run("eval", "memory", str(conversations), *fake)
    assert "3 questions over 6 turns" in table and "hybrid" in table


def test_threads_caps_the_cores_the_embedder_uses(tmp_path: Path) -> None:
    from overlay import threads

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "tea.md").write_text("# Tea\n\nGreen tea wants water at 80 °C.\n", "utf-8")
    db = ["--db", str(tmp_path / "o.db")]
    try:
        report = json.loads(run("ingest", str(notes), *db, "--create", "--json",
                                "--threads", "1"))
        assert report["embedded"] == 3 and threads.cores() == 1
        threads.limit(None)
        again = json.loads(run("reembed", *db, "--json", "--embedder", "hashing",
                               "--threads", "1"))
        assert again["embedded"] == 3 and threads.cores() == 1
    finally:
        threads.limit(None)
    bad = runner.invoke(cli.app, ["ingest", str(notes), *db, "--threads", "0"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
