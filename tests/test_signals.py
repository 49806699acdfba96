"""Signal adapters: sources (pyedflib's bundled EDF, BrainFlow's synthetic board, an LSL
outlet on loopback), band-power features, rules, and operators acting on the selector."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyedflib.data
import pyedflib.highlevel as edf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from overlay import Overlay, Settings, SignalError
from overlay.cli import app, main
from overlay.config import SelectConfig
from overlay.errors import NotFoundError
from overlay.modulation import Modulation, set_op
from overlay.signals import Features, compute, open_source, parse_operator, watch
from overlay.signals.features import BANDS, Baseline
from overlay.signals.inspect import baseline as fit_baseline
from overlay.signals.inspect import collect
from overlay.signals.rules import Rule, RuleSet, Watcher, load_rules
from overlay.signals.sources import LSLSource, Source
from overlay.yamlfile import SpecError

from .conftest import ROOT, VAULT

TEST_EDF = Path(pyedflib.data.get_generator_filename())
EXAMPLE = ROOT / "examples" / "signals"
RECORDING = EXAMPLE / "eyes-closed.edf"


def fake_overlay(db: Path) -> Overlay:
    ov = Overlay(settings=Settings.make(db=db, retrieve={"embedder": "hashing"},
                                        lm={"model": "fake"}))
    ov.ingest([VAULT])
    return ov


@pytest.fixture
def ov(tmp_path: Path) -> Iterator[Overlay]:
    with fake_overlay(tmp_path / "o.db") as overlay:
        yield overlay


def ruleset(*rules: dict, **top: object) -> RuleSet:
    return RuleSet.model_validate({"rules": list(rules), **top})


# ---------------------------------------------------------------- sources, features
def test_bundled_edf_windows_and_band_powers() -> None:
    with open_source(str(TEST_EDF)) as src:
        assert src.rate == 200 and len(src.channels) == 11 and src.duration == 600
        feats = collect(src, 2.0, 0.5)
    assert len(feats) == (600 - 2) * 2 + 1 and feats[0].t == 2.0 and feats[-1].t == 600.0
    f = feats[10]
    assert max(BANDS, key=lambda b: f.values["sine 8.5 Hz"][b]) == "alpha"
    assert max(BANDS, key=lambda b: f.values["sine 1 Hz"][b]) == "delta"
    assert max(BANDS, key=lambda b: f.values["sine 17 Hz"][b]) == "beta"
    assert f.values["sine 8.5 Hz"]["alpha_rel"] > 0.95
    rel = sum(f.values["noise"][f"{b}_rel"] for b in BANDS)
    assert rel == pytest.approx(1.0, abs=0.02)  # the bands tile 1–45 Hz
    s17 = f.values["sine 17 Hz"]
    assert s17["beta/(alpha+theta)"] == pytest.approx(s17["beta"] / (s17["alpha"] + s17["theta"]))


def test_windows_are_exact_slices_of_the_signal() -> None:
    class Ramp(Source):
        name, rate, channels = "ramp", 10.0, ("x",)

        def chunks(self) -> Iterator[np.ndarray]:
            for start in range(0, 100, 7):  # odd chunk sizes
                yield np.arange(start, min(start + 7, 100), dtype=float)[None, :]

    got = list(Ramp().windows(2.0, 0.5))
    assert [w.t for w in got[:3]] == [2.0, 2.5, 3.0] and got[-1].t == 10.0
    for w in got:
        end = round(w.t * 10)
        assert w.data[0].tolist() == list(range(end - 20, end))


def test_bad_files_and_channels_are_clear_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.edf"
    text.write_text("not a recording\n")
    with pytest.raises(SignalError, match=r"notes\.edf: not a readable EDF"):
        open_source(str(text))
    with pytest.raises(SignalError, match="no such file"):
        open_source(str(tmp_path / "gone.edf"))
    with pytest.raises(SignalError, match=r"no channel 'Oz'; it has squarewave"):
        open_source(str(TEST_EDF), ["Oz"])


def test_a_rate_too_low_for_a_band(tmp_path: Path, ov: Overlay) -> None:
    slow = tmp_path / "slow.edf"
    sig = np.random.default_rng(0).standard_normal((2, 64 * 20)) * 10
    edf.write_edf(str(slow), sig, edf.make_signal_headers(["A", "B"], sample_frequency=64))
    with open_source(str(slow)) as src:
        f = compute(next(src.windows()))
        assert "gamma" not in f.values[""] and "beta" in f.values[""]  # 30–45 Hz > 32 Hz
        rules = ruleset({"name": "g", "when": {"feature": "gamma_rel", "above": 0.1},
                         "do": "gain(2)"})
        with pytest.raises(SignalError, match=r"64 Hz is too low for 'gamma_rel'.*above 90 Hz"):
            watch(src, rules, ov)
    assert ov.modulation().empty


# ---------------------------------------------------------------- rules
def test_rules_file_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - name: x\n    when: {feature: alpha, above: 1}\n"
                   "    do: warp(3)\n")
    with pytest.raises(SpecError, match=r"rules\.yaml:4:9: rules\.0\.do: .*not an operator"):
        load_rules(bad)
    bad.write_text("rules:\n  - name: x\n    when: {feature: alfa, above: 1}\n    do: gain(2)\n")
    with pytest.raises(SpecError, match=r"rules\.yaml:3:\d+: .*unknown feature 'alfa'"):
        load_rules(bad)
    bad.write_text("rules:\n  - name: x\n    when: {feature: alpha}\n    do: gain(2)\n")
    with pytest.raises(SpecError, match="give `above`, `below` or both"):
        load_rules(bad)
    rules = load_rules(EXAMPLE / "rules.yaml")
    assert [r.name for r in rules.rules][:2] == ["eyes closed", "eyes open"]
    assert rules.rules[2].hold == 3 and len(rules.rules[2].when) == 2


@given(st.sampled_from(["gain", "temperature"]), st.floats(0.01, 50, allow_nan=False))
def test_operators_parse_and_print_back(kind: str, x: float) -> None:
    op = parse_operator(f"{kind}({x!r})")
    assert op.kind == kind and op.value == x
    assert parse_operator(str(op)).kind == kind


def test_operator_forms() -> None:
    assert parse_operator("boost( Levain , 1.5 )").target == "Levain"
    assert parse_operator("damp(goal:bake, 2)").target == "goal:bake"
    assert parse_operator("mark(good)").target == "good"
    assert parse_operator("snapshot").kind == "snapshot"
    for bad in ("gain(0)", "gain(x)", "mark(maybe)", "boost(1)", "temperature(-1)", "zap"):
        with pytest.raises(ValueError):
            parse_operator(bad)


def feats_at(t: float, alpha: float) -> Features:
    return Features(t, {"": {"alpha": alpha}})


def test_watcher_holds_fires_once_and_rearms() -> None:
    rule = Rule.model_validate({"name": "r", "when": {"feature": "alpha", "above": 1},
                                "for": 1.0, "do": "gain(2)"})
    w = Watcher([rule])
    seq = [(0.5, 2), (1.0, 2), (1.5, 2), (2.0, 2), (2.5, 0), (3.0, 2), (3.5, 2), (4.0, 2)]
    fired = [t for t, a in seq if w.update(feats_at(t, a))]
    assert fired == [1.5, 4.0]  # held 1 s from 0.5, once; broke at 2.5; held again from 3.0
    again = Rule.model_validate({**rule.model_dump(by_alias=True), "repeat": 1.0})
    w = Watcher([again])
    assert [t for t in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0) if w.update(feats_at(t, 2))] == [1.5, 2.5]


# ---------------------------------------------------------------- modulation algebra
@given(st.lists(st.tuples(st.sampled_from(["gain", "temperature", "boost"]),
                          st.floats(0.0, 5.0, allow_nan=False)), min_size=1, max_size=12))
@settings(max_examples=40, deadline=None)
def test_modulation_sets_levels_and_undo_is_exact(steps: list[tuple[str, float]]) -> None:
    cfg = SelectConfig()
    rows: dict[tuple[str, str], float] = {}
    ops = []
    for name, value in steps:
        value = max(value, 0.01) if name == "gain" else value
        target = "n1" if name == "boost" else ""
        op = set_op(Modulation.from_rows(rows), cfg, name, target, value)
        if op:
            ops.append(op)
            key = (name, target)
            rows[key] = round(rows.get(key, 0.0) + op["delta"], 9)
            rows = {k: v for k, v in rows.items() if v != 0}
        assert Modulation.from_rows(rows).level(name, target, cfg) == pytest.approx(value, abs=1e-8)
    for op in reversed(ops):  # undo: subtract every delta
        key = (op["name"], op["target"])
        rows[key] = round(rows.get(key, 0.0) - op["delta"], 9)
        rows = {k: v for k, v in rows.items() if v != 0}
    assert rows == {}


# ---------------------------------------------------------------- operators on the overlay
def test_boost_changes_the_next_trace_and_undo_removes_it(ov: Overlay, tmp_path: Path) -> None:
    question = "how do I feed a sourdough starter"
    before = ov.ask(question)
    loser = next(c for c in before.candidates if not c.chosen)
    event = ov.modulate("boost", loser.node_id or "", 100.0, operator="boost(x, 100)")
    assert event is not None
    boosted = ov.ask(question)
    won = next(c for c in boosted.candidates if c.node_id == loser.node_id)
    assert won.chosen and won.terms["boost"] == 100.0
    assert boosted.settings["modulation"]["boosts"] == {loser.node_id: 100.0}
    row = ov.history(2)[1]  # the ask after it is an event too
    assert row["kind"] == "signal" and row["what"] == "boost(x, 100)" and row["undoable"]
    ov.undo(event)
    assert ov.modulation().empty
    after = ov.ask(question)
    assert "modulation" not in after.settings
    assert [c.node_id for c in after.chosen] == [c.node_id for c in before.chosen]
    assert all("boost" not in c.terms for c in after.candidates)


def test_gain_temperature_and_goal_reach_the_selector(ov: Overlay) -> None:
    ov.modulate("gain", "", 1.6)
    ov.modulate("temperature", "", 0.9)
    ov.modulate("boost", "goal:answer", 1.0)
    trace = ov.ask("how do I feed a sourdough starter")
    assert trace.settings["decay"] == pytest.approx(0.8)  # 0.5 × 1.6
    assert trace.settings["temperature"] == pytest.approx(0.9)
    assert trace.settings["modulation"]["goal_boosts"] == {"answer": 1.0}
    for c in trace.candidates:
        assert c.terms["goal_boost"] == pytest.approx(c.terms["information"])
    assert ov.modulate("temperature", "", 0.9) is None  # already in force: no event


def test_note_title_targets_and_marks(ov: Overlay, tmp_path: Path) -> None:
    from overlay.signals.operators import Fired, apply, resolve

    op = resolve(ov, parse_operator("boost(Levain, 2)"))
    assert ov.node(op.target).title == "Levain"
    with pytest.raises(NotFoundError, match="no node or note titled 'Nope'"):
        resolve(ov, parse_operator("boost(Nope, 2)"))
    apply(ov, op, Fired(1.0, "r", "boost(Levain, 2)"))
    trace = ov.ask("what is a levain")
    levain = [c for c in trace.candidates if "boost" in c.terms]
    assert levain and all(c.terms["boost"] == 2.0 for c in levain)  # the note's blocks
    marked = apply(ov, parse_operator("mark(good)"), Fired(2.0, "r", "mark(good)"))
    assert marked.event is not None
    history = ov.history(1)[0]
    assert history["kind"] == "feedback" and history["what"] == "mark(good)"
    twice = apply(ov, parse_operator("mark(bad)"), Fired(3.0, "r", "mark(bad)"))
    assert twice.event is None and "already has feedback" in twice.note
    snap = apply(ov, parse_operator("snapshot(calm)"), Fired(4.0, "r", "snapshot(calm)"))
    files = list((tmp_path / "snapshots").glob("*-calm.db"))
    assert snap.event is not None and len(files) == 1
    assert Overlay(settings=Settings.make(db=files[0], retrieve={"embedder": "hashing"})).stats()


# ---------------------------------------------------------------- live sources
def test_synthetic_board_alpha_on_its_second_channel(ov: Overlay) -> None:
    rules = ruleset(
        {"name": "alpha C3", "when": {"feature": "alpha_rel", "channel": "C3", "above": 0.8},
         "for": 1.0, "do": "boost(Levain, 1)"},
        {"name": "alpha Fz", "when": {"feature": "alpha_rel", "channel": "Fz", "above": 0.8},
         "do": "gain(3)"},
    )
    with open_source("synthetic") as src:
        assert src.channels[1] == "C3" and src.rate == 250 and src.live
        t0 = time.monotonic()
        report = watch(src, rules, ov, duration=3.5)
        took = time.monotonic() - t0
    assert took >= 3.0  # live: windows come as the board produces them
    assert [f.rule for f in report.fired] == ["alpha C3"]
    assert report.fired[0].t == pytest.approx(3.0) and report.fired[0].values["C3.alpha_rel"] > 0.9
    assert ov.modulation().boosts and not ov.modulation().gain
    trace = ov.ask("what is a levain")
    assert any(c.terms.get("boost") == 1.0 for c in trace.candidates)
    ov.undo(report.fired[0].event or 0)
    assert ov.modulation().empty


OUTLET = """
import sys, time
import numpy as np, pylsl
name, seconds = sys.argv[1], float(sys.argv[2])
info = pylsl.StreamInfo(name, "EEGTEST" + name, 2, 250, "float32", name)
chans = info.desc().append_child("channels")
for label in ("O1", "Fz"):
    chans.append_child("channel").append_child_value("label", label)
outlet = pylsl.StreamOutlet(info)
print("ready", flush=True)
t, rng, start = 0, np.random.default_rng(1), time.monotonic()
while time.monotonic() - start < seconds:
    k = np.arange(t, t + 25) / 250
    o1 = 40 * np.sin(2 * np.pi * 10 * k) + rng.standard_normal(25)
    outlet.push_chunk(np.stack([o1, 5 * rng.standard_normal(25)], axis=1).tolist())
    t += 25
    time.sleep(0.1)
"""


def _outlet(name: str, seconds: float) -> subprocess.Popen[str]:
    """An LSL outlet on loopback, in its own process (liblsl cannot share one with usearch;
    see overlay/signals/lsl_reader.py): 10 Hz alpha on O1, noise on Fz, then it vanishes."""
    proc = subprocess.Popen([sys.executable, "-I", "-c", OUTLET, name, str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_lsl_stream_fires_and_a_vanished_stream_is_an_error(ov: Overlay) -> None:
    proc = _outlet("a", seconds=4.0)
    rules = ruleset({"name": "alpha", "when": {"feature": "alpha_rel", "channel": "O1",
                                                "above": 0.8}, "do": "temperature(0.5)"})
    try:
        with open_source("lsl:EEGTESTa") as src:
            assert src.channels == ("O1", "Fz") and src.rate == 250
            with pytest.raises(SignalError, match="stream 'a' disappeared after"):
                watch(src, rules, ov, duration=30)
    finally:
        proc.kill()
        proc.wait()
    # the operator applied before the stream went stays whole; nothing else was written
    assert ov.modulation().temperature == pytest.approx(0.5)
    assert ov.history(1)[0]["what"] == "temperature(0.5)"
    with pytest.raises(SignalError, match="no LSL stream of type 'EEGTESTnone'"):
        LSLSource("EEGTESTnone", timeout=0.5)
    with pytest.raises(SignalError, match="no channel 'Cz'; it has O1, Fz"):
        proc = _outlet("b", seconds=5.0)
        try:
            LSLSource("EEGTESTb", ["Cz"])
        finally:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- baseline and CLI
def test_baseline_z_scores(tmp_path: Path) -> None:
    with open_source(str(RECORDING)) as src:
        base = fit_baseline(src, 2.0, 0.5, duration=18)
    base.save(tmp_path / "b.json")
    loaded = Baseline.load(tmp_path / "b.json")
    assert loaded.windows == 33 and loaded.stats == base.stats
    with open_source(str(RECORDING)) as src:
        feats = [loaded.score(f) for f in collect(src, 2.0, 0.5)]
    rest = [f.get("alpha_rel", "O1", z=True) for f in feats if f.t <= 18]
    closed = [f.get("alpha_rel", "O1", z=True) for f in feats if 25 <= f.t <= 38]
    assert abs(np.mean(rest)) < 1e-6 and min(closed) > 3
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(SignalError, match=r"junk\.json: not a baseline"):
        Baseline.load(tmp_path / "junk.json")


def test_cli_inspect_baseline_watch_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = CliRunner()
    db = tmp_path / "o.db"
    fake_overlay(db).close()
    plot = tmp_path / "bands.png"
    res = runner.invoke(app, ["signal", "inspect", str(RECORDING), "--plot", str(plot),
                              "--json"])
    assert res.exit_code == 0, res.output
    found = json.loads(res.stdout)
    assert found["rate"] == 250 and found["channels"][-2:] == ["O1", "O2"]
    assert found["dominant"]["O1"] == "alpha" and plot.read_bytes()[:4] == b"\x89PNG"
    base = tmp_path / "base.json"
    res = runner.invoke(app, ["signal", "baseline", str(RECORDING), "--duration", "18",
                              "-o", str(base)])
    assert res.exit_code == 0 and base.exists(), res.output
    res = runner.invoke(app, ["signal", "watch", str(RECORDING), "--rules",
                              str(EXAMPLE / "rules.yaml"), "--baseline", str(base),
                              "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    applied = [f for f in report["fired"] if f["event"] is not None]
    assert [f["operator"] for f in applied] == [
        "temperature(0.7)", "temperature(0)", "boost(Levain, 3)", "boost(Levain, 0)"]
    assert 20 < applied[0]["t"] < 26 and 45 < applied[2]["t"] < 52
    for args, message in (
        (["watch", str(RECORDING), "--rules", str(EXAMPLE / "rules.yaml"), "--db", str(db)],
         "compares a z-score: give a baseline"),
        (["inspect", "lsl:"], "lsl: needs a stream type"),
        (["inspect", str(EXAMPLE / "rules.yaml")], "rules.yaml: not a readable EDF"),
    ):
        with pytest.raises(SystemExit) as info:
            sys.argv = ["overlay", "signal", *args]
            main()
        lines = capsys.readouterr().err.strip().splitlines()
        assert info.value.code == 1 and len(lines) == 1 and message in lines[0], lines


def test_watch_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    import signal

    db = tmp_path / "o.db"
    fake_overlay(db).close()
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: alpha\n    when: {feature: alpha_rel, channel: C3, "
                     "above: 0.8}\n    do: gain(1.5)\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from overlay.cli import main; main()", "signal", "watch",
         "synthetic", "--rules", str(rules), "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "watching …": the loop has started
    assert first.startswith("watching synthetic"), first
    fired = proc.stdout.readline()
    assert "alpha → gain(1.5)" in fired, fired
    proc.send_signal(signal.SIGINT)
    rest, errors = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "(interrupted)" in rest and not errors.strip(), errors
    with Overlay(settings=Settings.make(db=db, retrieve={"embedder": "hashing"})) as ov:
        assert ov.modulation().gain == pytest.approx(0.5)  # 1 + 0.5
