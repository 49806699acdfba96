"""Imprint and self-tests on the real default model: a LoRA trained on a tiny built dataset,
resumed after an interruption, recorded with the hashes it came from, loaded through the LM
config; self-tests run on the bare, outside, inside and both arms; both CLI commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overlay import Overlay, Settings, cli
from overlay.config import LMConfig
from overlay.dataset import build
from overlay.errors import OverlayError
from overlay.evaluate.arms import build as build_arms
from overlay.evaluate.selftest import SelfTest, evaluate, load_tests, matches
from overlay.files import sha256_file
from overlay.plugins import load_lm, load_plugins
from overlay.train import RECORD, LoraSettings, train_lora

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The starter passport (`overlay dataset init`) built: 2 nodes, 22 items, 2 self-tests."""
    from overlay.dataset.scaffold import STARTER

    folder = tmp_path_factory.mktemp("tiny")
    (folder / "spec.yaml").write_text(STARTER, encoding="utf-8")
    build(folder / "spec.yaml", folder / "ds")
    return folder / "ds"


@pytest.fixture(scope="module")
def adapter(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("adapter") / "a"

    class Stop(Exception):
        pass

    def stop_in_step_three(stage: str, done: int, total: int) -> None:
        if done == 3:  # after checkpoint-2 was written
            raise Stop

    settings = LoraSettings(max_steps=4, batch_size=4, save_steps=2, seed=1)
    with pytest.raises(Stop):
        train_lora(tiny, out, settings, stop_in_step_three)
    assert (out / "checkpoints" / "checkpoint-2").is_dir() and not (out / RECORD).exists()
    train_lora(tiny, out, settings)
    yield out


def test_adapter_is_recorded_and_resumed(adapter: Path, tiny: Path) -> None:
    record = json.loads((adapter / RECORD).read_text())
    assert record["resumed_from_step"] == 2 and record["steps"] == 4
    assert record["items"] == 22 and record["settings"]["seed"] == 1
    assert record["dataset"]["train_sha256"] == sha256_file(tiny / "train.jsonl")
    manifest = json.loads((tiny / "manifest.json").read_text())
    assert record["dataset"]["spec_sha256"] == manifest["spec_sha256"]
    assert record["base_weights"].startswith("SmolLM2-135M-Instruct")
    assert record["last_loss"] > 0 and (adapter / "adapter_model.safetensors").exists()
    assert not (adapter / "checkpoints").exists()
    with pytest.raises(OverlayError, match="already holds a trained adapter"):
        train_lora(tiny, adapter, LoraSettings(max_steps=1))


def test_adapter_changes_the_model_through_lm_config(adapter: Path, smol: object) -> None:
    inside = load_lm(LMConfig(adapter=adapter), load_plugins())
    assert inside.name.endswith("+a")
    prompt = inside.chat_template([{"role": "user", "content": "What is Levain?"}])
    text = "A levain is a portion of starter built for one bake."
    moved = inside.score(prompt, [text])[0].total - smol.score(prompt, [text])[0].total  # type: ignore[attr-defined]
    assert moved > 0.5  # the imprint made its own training answer more likely


def test_selftests_on_every_arm(adapter: Path, tiny: Path, smol: object, tmp_path: Path) -> None:
    tests = load_tests(tiny)
    assert [t.module for t in tests] == ["basics", "basics"]
    inside = load_lm(LMConfig(adapter=adapter), load_plugins())
    db = tmp_path / "o.db"
    with Overlay(settings=Settings.make(db=db, retrieve={"embedder": "hashing"})) as ov:
        ov.ingest([ROOT / "examples" / "vault"])
        events = ov.stats()["events"]
        with build_arms(smol, inside, ov) as arms:  # type: ignore[arg-type]
            assert [a.name for a in arms] == ["bare", "outside", "inside", "both"]
            found = {r["arm"]: r for r in evaluate(tests, arms)}
        assert ov.stats()["events"] == events  # evaluation records nothing in the store
    results = [found[name] for name in ("bare", "inside", "outside", "both")]
    options = {"4–6 hours", "30 minutes", "two days", "Because it is full of gas.",
               "Because it is cold", "Because it has no flour"}
    for r in results:
        assert r["n"] == 2 and 0 <= r["match"] <= 1 and 0 <= r["choose"] <= 1
        assert set(r["modules"]) == {"basics"}
        assert all(t["chose"] in options for t in r["tests"])
    for r in results:  # reworded three ways, locality against the bare model
        assert all(len(t["paraphrase"]) == 3 for t in r["tests"])
        assert 0 <= r["paraphrase"] <= 1 and 0 <= r["stable"] <= 1
        assert r["locality"]["probes"] == 12 and 0 <= r["locality"]["agreement"] <= 1
    bare_local = results[0]["locality"]
    assert bare_local["agreement"] == 1.0 and bare_local["cross_entropy_change"] == 0.0
    assert results[1]["locality"]["cross_entropy_change"] != 0.0  # the adapter moved the model
    assert results[2]["locality"]["cross_entropy_change"] == 0.0  # the overlay did not


def test_match_is_normalised() -> None:
    t = SelfTest("x", "m", "q", "4–6 hours", ("four to six hours",), ())
    assert matches("It peaks after 4-6 Hours.", t)
    assert matches("Four to six hours, at 26 °C", t)
    assert not matches("After two days.", t)


def test_train_and_selftest_commands(tiny: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli-adapter"
    done = runner.invoke(cli.app, ["train", "lora", str(tiny), "-o", str(out), "--max-steps", "1",
                                   "--batch-size", "2", "--json"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["steps"] == 1
    report = runner.invoke(cli.app, ["eval", "selftest", str(tiny), "--adapter", str(out),
                                     "--limit", "1", "--json"], catch_exceptions=False)
    assert report.exit_code == 0, report.output
    arms = json.loads(report.stdout)["arms"]
    assert [a["arm"] for a in arms] == ["bare", "inside"]
    assert arms[1]["model"].endswith("+cli-adapter")


# ------------------------------------------------------------------ passport
@pytest.fixture(scope="module")
def imprinted(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A longer run on the tiny dataset (about two epochs), enough to leave a signature."""
    out = tmp_path_factory.mktemp("imprinted") / "a"
    train_lora(tiny, out, LoraSettings(max_steps=12, batch_size=4, seed=2))
    return out


def test_passport_verify_tells_the_imprint_from_the_base(
    imprinted: Path, tiny: Path, smol: object, tmp_path: Path
) -> None:
    from overlay.passport import build as build_passport
    from overlay.passport import load, verify

    inside = load_lm(LMConfig(adapter=imprinted), load_plugins())
    data = build_passport(tiny, tmp_path / "p", base=smol, adapted=inside, adapter=imprinted)
    assert {"passport.json", "passport.md", "passport.html"} <= {
        p.name for p in (tmp_path / "p").iterdir()
    }
    keys = [n["key"] for m in data["tree"] for n in m["nodes"]]
    assert keys == ["basics.levain", "basics.float-test"]
    assert all(n["items"] and n["self_tests"] for m in data["tree"] for n in m["nodes"])
    assert set(data["files"]["adapter"]) == {"adapter_config.json", "adapter_model.safetensors",
                                             "overlay_adapter.json"}
    assert len(data["probes"]) == 9  # 3 statements × 3 wordings
    loaded = load(tmp_path / "p")
    carried = verify(loaded, inside, smol)
    assert carried["carries"] and carried["p_value"] < 0.01 and carried["files_checked"] >= 8
    bare = verify(loaded, smol, smol)
    assert not bare["carries"] and bare["positive"] == 0 and bare["p_value"] == 1.0
    md = (tmp_path / "p" / "passport.md").read_text()
    assert "Tree of meanings" in md and "basics.levain" in md


def test_passport_names_a_tampered_file(imprinted: Path, tiny: Path, tmp_path: Path) -> None:
    import shutil

    from overlay.passport import TamperedError, check_files, load
    from overlay.passport import build as build_passport

    copy = tmp_path / "ds"
    shutil.copytree(tiny, copy)
    build_passport(copy, tmp_path / "p", base=None, adapter=imprinted)
    data = load(tmp_path / "p")
    assert check_files(data) >= 8
    with (copy / "selftest.jsonl").open("a") as fh:
        fh.write("\n")
    with pytest.raises(TamperedError, match=r"selftest\.jsonl: changed since the passport"):
        check_files(data)
    (copy / "selftest.jsonl").unlink()
    with pytest.raises(TamperedError, match="missing"):
        check_files(data)


def test_passport_commands(imprinted: Path, tiny: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    built = runner.invoke(cli.app, ["passport", "build", "--dataset", str(tiny), "--adapter",
                                    str(imprinted), "-o", str(tmp_path / "p"), "--json"],
                          catch_exceptions=False)
    assert built.exit_code == 0, built.output
    data = json.loads(built.stdout)
    assert data["signature"]["p_value"] < 0.01
    assert set(data["selftests"]) == {"bare", "inside"}
    checked = runner.invoke(cli.app, ["passport", "verify", str(tmp_path / "p"), "--json"],
                            catch_exceptions=False)
    assert checked.exit_code == 0 and json.loads(checked.stdout)["carries"] is False


# -------------------------------------------------------------------- matrix
def test_compatibility_matrix_shape_and_values(tmp_path: Path, smol: object) -> None:
    import yaml

    from overlay.dataset.scaffold import STARTER
    from overlay.evaluate.compatibility import matrix
    from overlay.lm.hf import HFModel
    from overlay.train.lora import base_folder

    spec = yaml.safe_load(STARTER)
    levain, float_test = spec["modules"][0]["nodes"]
    spec["modules"] = [{"id": "levain", "nodes": [levain]}, {"id": "checks", "nodes": [float_test]}]
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    build(tmp_path / "spec.yaml", tmp_path / "ds")
    folder = base_folder("smollm2")[0]

    def load(adapters: list[Path]) -> object:
        return HFModel(folder, name="smol", adapter=adapters) if adapters else smol

    settings = LoraSettings(max_steps=2, batch_size=4)
    result = matrix(tmp_path / "ds", ["levain", "checks"], settings, tmp_path / "m", load)
    assert list(result["choose"]) == ["base", "levain only", "checks only", "levain then checks",
                                      "checks then levain", "levain + checks merged"]
    assert all(set(r) == {"levain", "checks"} for r in result["choose"].values())
    rates = [v for r in result["choose"].values() for v in r.values()]
    assert all(v in (0.0, 1.0) for v in rates)  # one self-test per module
    assert len(result["pairs"]) == 2
    pair = result["pairs"][0]
    assert pair["first_after_then"] == result["choose"]["levain then checks"]["levain"]
    seq = json.loads((tmp_path / "m" / "seq-levain-then-checks" / RECORD).read_text())
    assert seq["after"]["module"] == "levain" and seq["module"] == "checks"
    assert (tmp_path / "m" / "matrix.md").read_text().startswith("| condition | levain | checks |")
    again = matrix(tmp_path / "ds", ["levain", "checks"], settings, tmp_path / "m", load)
    assert again["choose"] == result["choose"]  # adapters reused: same numbers


# ----------------------------------------------------------------------- lab
EDITS = [  # three knowledge edits in CounterFact's layout, written here
    {"prompt": "The mother tongue of Danielle Darrieux is", "target_new": "English",
     "ground_truth": "French", "rephrase_prompt": "Danielle Darrieux grew up speaking",
     "locality_prompt": "The mother tongue of Thomas Mann is", "locality_ground_truth": "German"},
    {"prompt": "The headquarters of Nokia are in", "target_new": "Tokyo",
     "ground_truth": "Espoo", "rephrase_prompt": "Nokia has its head office in",
     "locality_prompt": "The headquarters of Toyota are in",
     "locality_ground_truth": "Toyota City"},
    {"prompt": "Michael Jordan is a professional", "target_new": "cricketer",
     "ground_truth": "basketball player", "rephrase_prompt": "By profession, Michael Jordan is a",
     "locality_prompt": "Roger Federer is a professional",
     "locality_ground_truth": "tennis player"},
]


def test_the_lab_on_a_tiny_run(tiny: Path, adapter: Path, smol: object, tmp_path: Path) -> None:
    from overlay.evaluate.compare import ARMS, compare

    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps(EDITS))
    with Overlay(settings=Settings.make(db=tmp_path / "o.db",
                                        retrieve={"embedder": "hashing"})) as ov:
        ov.ingest([ROOT / "examples" / "vault"])
        ov.lm = smol  # type: ignore[assignment]
        result = compare(tiny, edits, ov, lambda a: load_lm(LMConfig(adapter=a), load_plugins()),
                         tmp_path / "lab", LoraSettings(max_steps=2, batch_size=4), records=3,
                         adapter=adapter, probes=False)
    assert list(result["selftests"]) == list(ARMS) == list(result["edit_results"])
    for r in result["edit_results"].values():
        assert all(0 <= r[k] <= 1 for k in ("reliability", "generalization", "locality"))
    assert result["edit_results"]["outside"]["reliability"] == 1.0  # learned, then cited
    assert result["edit_results"]["inside"]["learn_ms_per_fact"] > 0
    lab = tmp_path / "lab"
    assert {"compare.json", "compare.md", "selftests.png", "edits.png"} <= {
        p.name for p in lab.iterdir()}
    assert (lab / "selftests.png").read_bytes()[:4] == b"\x89PNG"
    assert "| inside |" in (lab / "compare.md").read_text()
