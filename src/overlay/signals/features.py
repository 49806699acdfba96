"""Features of a window: Welch band powers per channel and averaged, their ratios, and
z-scores against a per-user baseline.

Bands (Hz, lower edge included, upper excluded): delta 1–4, theta 4–8, alpha 8–13,
beta 13–30, gamma 30–45. `BAND` is the absolute power (the PSD integrated over the band, in
the signal's unit squared); `BAND_rel` is its share of the 1–45 Hz total. Ratios:
`alpha/beta`, `theta/beta`, `beta/(alpha+theta)` (engagement). Welch uses 1 s Hann segments
with half overlap (1 Hz resolution), the whole window when it is shorter.

A baseline is the mean and standard deviation of log10 of each feature over the windows of a
resting recording; a z-score is (log10 value − mean) / sd, so "alpha_rel z > 1.5" means the
same for every person and device (powers are log-normal, hence the log).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import welch

from overlay.errors import SignalError
from overlay.files import write_atomic
from overlay.signals.sources import Window

BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 45.0),
}
TOTAL = (1.0, 45.0)
RATIOS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "alpha/beta": (("alpha",), ("beta",)),
    "theta/beta": (("theta",), ("beta",)),
    "beta/(alpha+theta)": (("beta",), ("alpha", "theta")),
}
NAMES = (*BANDS, *(f"{b}_rel" for b in BANDS), *RATIOS)
MEAN = ""  # the channel key of channel-averaged features
TINY = 1e-12


def bands_of(feature: str) -> tuple[str, ...]:
    """The bands a feature is computed from (relative powers need the whole total range)."""
    if feature in BANDS:
        return (feature,)
    if feature.endswith("_rel") and feature[:-4] in BANDS:
        return tuple(BANDS)
    if feature in RATIOS:
        num, den = RATIOS[feature]
        return num + den
    raise SignalError(f"unknown feature {feature!r}; one of {', '.join(NAMES)}")


def usable(rate: float) -> list[str]:
    """The bands a signal at `rate` Hz can resolve (the upper edge below Nyquist)."""
    return [b for b, (_lo, hi) in BANDS.items() if hi <= rate / 2]


def need_rate(feature: str, rate: float, source: str) -> None:
    """Refuse a feature whose bands lie above the source's Nyquist frequency."""
    for band in bands_of(feature):
        hi = BANDS[band][1]
        if hi > rate / 2:
            raise SignalError(
                f"{source}: {rate:g} Hz is too low for {feature!r}: band {band} "
                f"({BANDS[band][0]:g}–{hi:g} Hz) needs a rate above {2 * hi:g} Hz"
            )


@dataclass
class Features:
    """One window's features: `values[channel][name]`, with channel "" the average."""

    t: float
    values: dict[str, dict[str, float]]
    z: dict[str, dict[str, float]] = field(default_factory=dict)

    def get(self, name: str, channel: str | None = None, z: bool = False) -> float:
        table = self.z if z else self.values
        key = _channel_key(channel, table, name)
        return table[key][name]


def _channel_key(channel: str | None, table: dict[str, dict[str, float]], name: str) -> str:
    if not channel:
        return MEAN
    for key in table:
        if key.lower() == channel.lower():
            return key
    have = ", ".join(k for k in table if k)
    raise SignalError(f"no channel {channel!r} for {name!r}; have {have}")


def _derived(power: dict[str, float], total: float) -> dict[str, float]:
    out = dict(power)
    for band, p in power.items():
        out[f"{band}_rel"] = p / max(total, TINY)
    for name, (num, den) in RATIOS.items():
        if all(b in power for b in num + den):
            out[name] = sum(power[b] for b in num) / max(sum(power[b] for b in den), TINY)
    return out


def compute(window: Window) -> Features:
    """Band powers per channel and averaged over channels, with relatives and ratios."""
    rate = window.rate
    freqs, psd = welch(window.data, fs=rate, nperseg=min(window.data.shape[1], round(rate)),
                       axis=-1)
    df = freqs[1] - freqs[0]
    ok = usable(rate)
    lo_t, hi_t = TOTAL[0], min(TOTAL[1], rate / 2)

    def integrate(lo: float, hi: float) -> np.ndarray:
        mask = (freqs >= lo) & (freqs < hi)
        return np.asarray(psd[:, mask].sum(axis=1) * df)

    per_band = {b: integrate(*BANDS[b]) for b in ok}
    total = integrate(lo_t, hi_t)
    values = {}
    for c, name in enumerate(window.channels):
        values[name] = _derived({b: float(v[c]) for b, v in per_band.items()}, float(total[c]))
    mean = {b: float(v.mean()) for b, v in per_band.items()}
    values[MEAN] = _derived(mean, float(total.mean()))
    return Features(window.t, values)


@dataclass
class Baseline:
    """Per-feature mean and sd of log10 values over a resting recording."""

    rate: float
    channels: list[str]
    windows: int
    stats: dict[str, dict[str, tuple[float, float]]]  # channel → feature → (mean, sd)
    source: str = ""

    @classmethod
    def fit(cls, feats: list[Features], rate: float, channels: list[str], source: str) -> Baseline:
        if len(feats) < 2:
            raise SignalError(f"{source}: a baseline needs at least 2 windows, got {len(feats)}")
        stats: dict[str, dict[str, tuple[float, float]]] = {}
        for ch, names in feats[0].values.items():
            stats[ch] = {}
            for name in names:
                logs = np.log10([max(f.values[ch][name], TINY) for f in feats])
                stats[ch][name] = (float(logs.mean()), max(float(logs.std()), 1e-6))
        return cls(rate, channels, len(feats), stats, source)

    def score(self, feats: Features) -> Features:
        """Fill `feats.z` for every feature the baseline knows."""
        for ch, names in feats.values.items():
            known = self.stats.get(ch)
            if known is None:
                continue
            feats.z[ch] = {
                n: (math.log10(max(v, TINY)) - known[n][0]) / known[n][1]
                for n, v in names.items() if n in known
            }
        return feats

    def save(self, path: Path) -> None:
        data = {"rate": self.rate, "channels": self.channels, "windows": self.windows,
                "source": self.source, "bands": BANDS,
                "stats": {ch or "mean": {n: list(v) for n, v in s.items()}
                          for ch, s in self.stats.items()}}
        write_atomic(path, json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Baseline:
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            stats = {("" if ch == "mean" else ch): {n: (float(v[0]), float(v[1]))
                                                    for n, v in s.items()}
                     for ch, s in data["stats"].items()}
            return cls(float(data["rate"]), list(data["channels"]), int(data["windows"]), stats,
                       str(data.get("source", "")))
        except FileNotFoundError:
            raise SignalError(f"{path}: no such baseline file") from None
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise SignalError(f"{path}: not a baseline written by `overlay signal baseline` "
                              f"({type(exc).__name__}: {exc})") from None
