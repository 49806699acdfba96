"""Write examples/signals/eyes-closed.edf: 60 s of 8-channel, 250 Hz EEG-like signal (1/f
background noise, seeded) with an eyes-closed episode from 20 s to 40 s, where a 10 Hz alpha
rhythm strongest over the back of the head (O1, O2, Pz) appears, and a beta-rich "focused"
stretch from 45 s to 55 s over the front (Fz, F3, F4). A synthetic stand-in for a recording,
small enough to keep in the repository; `overlay signal inspect` shows both episodes.

Run: python examples/signals/make_recording.py [OUT.edf]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyedflib.highlevel as edf

RATE, SECONDS = 250, 60
CHANNELS = ["Fz", "F3", "F4", "C3", "C4", "Pz", "O1", "O2"]
ALPHA = {"O1": 1.0, "O2": 1.0, "Pz": 0.7, "C3": 0.4, "C4": 0.4, "Fz": 0.2, "F3": 0.2, "F4": 0.2}
BETA = {"Fz": 1.0, "F3": 1.0, "F4": 1.0, "C3": 0.5, "C4": 0.5}


def pink(rng: np.random.Generator, n: int) -> np.ndarray:
    """1/f noise: white noise shaped in the frequency domain, unit variance."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[1:] /= np.sqrt(f[1:])
    x = np.fft.irfft(spectrum, n)
    return x / x.std()


def episode(t: np.ndarray, start: float, end: float, ramp: float = 1.0) -> np.ndarray:
    """0 outside [start, end], 1 inside, with linear ramps of `ramp` seconds."""
    return np.clip(np.minimum(t - start, end - t) / ramp, 0, 1)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("eyes-closed.edf")
    rng = np.random.default_rng(2026)
    n = RATE * SECONDS
    t = np.arange(n) / RATE
    closed, focused = episode(t, 20, 40), episode(t, 45, 55)
    signals = []
    for ch in CHANNELS:
        x = 12 * pink(rng, n)  # µV
        phase = rng.uniform(0, 2 * np.pi)
        x += 30 * ALPHA[ch] * closed * np.sin(2 * np.pi * (10 + 0.3 * rng.standard_normal()) * t + phase)
        beta = rng.standard_normal(n)
        beta = np.real(np.fft.irfft(np.fft.rfft(beta) * ((np.fft.rfftfreq(n, 1 / RATE) > 15)
                                                          & (np.fft.rfftfreq(n, 1 / RATE) < 25)), n))
        x += 10 * BETA.get(ch, 0.1) * focused * beta / beta.std()
        signals.append(x)
    headers = edf.make_signal_headers(CHANNELS, sample_frequency=RATE, physical_min=-300,
                                      physical_max=300)
    edf.write_edf(str(out), np.array(signals), headers)
    print(out)


if __name__ == "__main__":
    main()
