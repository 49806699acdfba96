"""`overlay signal inspect | baseline | watch`: measured states (EEG) as operators on the
overlay. SOURCE is an EDF/EDF+/BDF file, `lsl:TYPE` (a Lab Streaming Layer stream) or
`synthetic` (BrainFlow's synthetic board)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from overlay.cli.app import DbOpt, JsonOpt, app, emit, open_overlay, out, progress
from overlay.errors import SignalError

if TYPE_CHECKING:
    from overlay.signals.features import Features
    from overlay.signals.operators import Fired
    from overlay.signals.sources import Source

signal_app = typer.Typer(
    help="EEG and other signals as operators on the overlay (rules over band powers).",
    no_args_is_help=True,
)
app.add_typer(signal_app, name="signal")

SourceArg = Annotated[
    str, typer.Argument(help="An EDF/EDF+/BDF file, lsl:TYPE (e.g. lsl:EEG) or synthetic.")
]
ChannelOpt = Annotated[
    list[str] | None, typer.Option("--channel", help="Use only this channel (repeatable).")
]
WindowOpt = Annotated[float, typer.Option("--window", min=0.1, help="Seconds per window.")]
StepOpt = Annotated[float, typer.Option("--step", min=0.05, help="Seconds between windows.")]


def _open(spec: str, channels: list[str] | None) -> Source:
    from overlay.signals.sources import open_source

    return open_source(spec, channels)


def _read(
    spec: str, channels: list[str] | None, window: float, step: float, duration: float | None
) -> tuple[Source, list[Features]]:
    """Every window's features of a source, with a progress bar over its seconds (a live
    source must be given a duration); the source is closed on return."""
    from overlay.signals.inspect import collect

    with _open(spec, channels) as src:
        if src.live and duration is None:
            raise SignalError(f"{src.name}: a live source needs --duration")
        total = duration or getattr(src, "duration", None)
        with progress(True) as bar:
            tick = (lambda t: bar("signal", int(t), int(total))) if total else None
            return src, collect(src, window, step, duration, tick)


@signal_app.command("inspect")
def inspect(
    source: SourceArg,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="PNG of band powers over time [default: "
                                  "FILE.bands.png next to a file; none for a live source]")
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0.1, help="Seconds to read (live: required).")
    ] = None,
    channels: ChannelOpt = None,
    window: WindowOpt = 2.0,
    step: StepOpt = 0.5,
    json_out: JsonOpt = False,
) -> None:
    """Channels, rate, duration and band powers of a recording or stream, with a PNG plot."""
    from overlay.signals.inspect import plot as draw
    from overlay.signals.inspect import summary

    src, feats = _read(source, channels, window, step, duration)
    found = summary(src, feats)
    if plot is None and not src.live:
        plot = Path(source).with_suffix(".bands.png")
    if plot is not None and feats:
        found["plot"] = str(draw(feats, plot, f"{Path(found['source']).name}: band powers"))
    if json_out:
        emit(found)
        return
    out.print(f"[bold]{found['source']}[/]: {len(found['channels'])} channels at "
              f"{found['rate']:g} Hz, {found['duration_s']:g} s, {found['windows']} windows")
    out.print("channels: " + ", ".join(found["channels"]), markup=False)
    if found["skipped_bands"]:
        out.print(f"bands above {found['rate'] / 2:g} Hz (Nyquist) skipped: "
                  + ", ".join(found["skipped_bands"]))
    for band, p in found["power"].items():
        lo, hi = found["bands"][band]
        out.print(f"  {band:<6} {lo:>4g}–{hi:<3g} Hz  median {p['median']:.4g} "
                  f"(p10 {p['p10']:.4g}, p90 {p['p90']:.4g})  share {p['relative']:.1%}")
    if "plot" in found:
        out.print(f"plot: {found['plot']}")


@signal_app.command("baseline")
def baseline(
    source: SourceArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="The baseline JSON to write.")],
    duration: Annotated[
        float | None, typer.Option("--duration", min=1, help="Seconds to record (live: required).")
    ] = None,
    channels: ChannelOpt = None,
    window: WindowOpt = 2.0,
    step: StepOpt = 0.5,
    json_out: JsonOpt = False,
) -> None:
    """Record a resting baseline: per-feature mean and sd of log power, for z-score rules."""
    from overlay.signals.inspect import fit

    found = fit(*_read(source, channels, window, step, duration))
    found.save(output)
    result = {"baseline": str(output), "windows": found.windows, "rate": found.rate,
              "channels": found.channels}
    if json_out:
        emit(result)
    else:
        out.print(f"baseline of {found.windows} windows ({len(found.channels)} channels at "
                  f"{found.rate:g} Hz) written to {output}")


def _show(fired: Fired) -> None:
    values = ", ".join(f"{k}={v:g}" for k, v in fired.values.items())
    line = f"[{fired.t:7.1f} s] {fired.rule} → {fired.operator}  ({values})  "
    if fired.event is None:  # nothing changed: shown dim
        out.print(line + fired.note, style="dim", markup=False, highlight=False)
    else:
        out.print(line + f"event {fired.event}", markup=False, highlight=False)


@signal_app.command("watch")
def watch(
    source: SourceArg,
    rules: Annotated[Path, typer.Option("--rules", help="The rules YAML file.")],
    duration: Annotated[
        float | None, typer.Option("--duration", min=0.1, help="Stop after this many seconds.")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Baseline JSON (overrides the rules').")
    ] = None,
    channels: ChannelOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run rules over a source: each operator that fires is printed and applied to the
    overlay as an undoable event. Stops at the end, after --duration, or on Ctrl-C."""
    from overlay.signals.features import Baseline
    from overlay.signals.loop import watch as run
    from overlay.signals.rules import load_rules

    ruleset = load_rules(rules)
    base_path = baseline or ruleset.baseline
    base = Baseline.load(base_path) if base_path else None
    with open_overlay(db) as overlay, _open(source, channels) as src:
        if not json_out:
            out.print(f"watching {src.name} ({len(src.channels)} channels at {src.rate:g} Hz) "
                      f"with {len(ruleset.rules)} rules" + ("; Ctrl-C stops" if src.live else ""))
        report = run(src, ruleset, overlay, base, duration, None if json_out else _show)
    if json_out:
        emit(report.to_dict())
    else:
        applied = sum(1 for f in report.fired if f.event is not None)
        out.print(f"{report.windows} windows, {report.seconds:g} s of signal, "
                  f"{applied} operators applied ({report.stopped}); `overlay history` lists "
                  "them, `overlay undo ID` takes one back")
