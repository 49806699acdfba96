"""What a recording holds: channels, rate, duration, a band-power summary and a PNG of band
powers over time (`overlay signal inspect`), and the windows a baseline is fitted on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from overlay.signals.features import BANDS, MEAN, Baseline, Features, usable
from overlay.signals.loop import features
from overlay.signals.sources import EDFSource, Source

Tick = Callable[[float], None]  # seconds of signal read so far


def collect(source: Source, window: float, step: float, duration: float | None = None,
            tick: Tick | None = None) -> list[Features]:
    """Features of every window of the source (a live one: for `duration` seconds)."""
    out = []
    for feats in features(source, window, step, duration):
        out.append(feats)
        if tick:
            tick(feats.t)
    return out


def summary(source: Source, feats: list[Features]) -> dict[str, Any]:
    """Channels, rate, duration and per band: median power and relative share (average of
    channels), plus the band with the most relative power on each channel."""
    bands = usable(source.rate)
    skipped = [b for b in BANDS if b not in bands]
    out: dict[str, Any] = {
        "source": source.name,
        "channels": list(source.channels),
        "rate": source.rate,
        "duration_s": round(getattr(source, "duration", feats[-1].t if feats else 0.0), 3),
        "windows": len(feats),
        "unit": getattr(source, "unit", ""),
        "bands": {b: list(BANDS[b]) for b in bands},
        "skipped_bands": skipped,
        "power": {},
        "dominant": {},
    }
    if not feats:
        return out
    for b in bands:
        absolute = np.array([f.values[MEAN][b] for f in feats])
        rel = np.array([f.values[MEAN][f"{b}_rel"] for f in feats])
        out["power"][b] = {"median": float(np.median(absolute)),
                           "p10": float(np.percentile(absolute, 10)),
                           "p90": float(np.percentile(absolute, 90)),
                           "relative": round(float(rel.mean()), 4)}
    for ch in source.channels:
        shares = {b: float(np.mean([f.values[ch][f"{b}_rel"] for f in feats])) for b in bands}
        out["dominant"][ch] = max(shares, key=lambda b: shares[b]) if shares else None
    return out


def plot(feats: list[Features], path: Path, title: str) -> Path:
    """Band powers (channel average, log scale) and relative shares over time, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [f.t for f in feats]
    bands = [b for b in BANDS if b in feats[0].values[MEAN]] if feats else []
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    for b in bands:
        lo, hi = BANDS[b]
        top.plot(t, [f.values[MEAN][b] for f in feats], label=f"{b} {lo:g}–{hi:g} Hz")
        bottom.plot(t, [f.values[MEAN][f"{b}_rel"] for f in feats], label=b)
    top.set_yscale("log")
    top.set_ylabel("power (unit²)")
    top.set_title(title)
    top.legend(loc="upper right", fontsize=7, ncol=3)
    bottom.set_ylabel("share of 1–45 Hz")
    bottom.set_xlabel("time (s)")
    bottom.set_ylim(0, 1)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def baseline(source: Source, window: float, step: float, duration: float | None,
             tick: Tick | None = None) -> Baseline:
    """Fit a baseline on a resting recording (a file: all of it; live: `duration` s)."""
    return fit(source, collect(source, window, step, duration, tick))


def fit(source: Source, feats: list[Features]) -> Baseline:
    """A baseline from windows already read from `source`."""
    name = source.name if isinstance(source, EDFSource) else f"{source.name} ({len(feats)} windows)"
    return Baseline.fit(feats, source.rate, list(source.channels), name)
