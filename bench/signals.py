"""Signal loop throughput: windows per second through features, z-scores and rules (the
whole `overlay signal watch` loop, operators written to a real store), on 8 channels at
250 Hz, against what real time needs (1 / step windows per second). The margin is how many
times faster than real time the loop runs.

Run: python bench/signals.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import save
from overlay import Overlay, Settings
from overlay.signals import features, load_rules, open_source, watch
from overlay.signals.inspect import baseline
from overlay.signals.sources import Source

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "examples" / "signals" / "eyes-closed.edf"
RULES = ROOT / "examples" / "signals" / "rules.yaml"


class Replay(Source):
    """The example recording repeated to `seconds`, served in 1 s blocks as a file is."""

    def __init__(self, data: np.ndarray, rate: float, channels: tuple[str, ...],
                 seconds: float) -> None:
        reps = int(np.ceil(seconds * rate / data.shape[1]))
        self.data = np.tile(data, reps)[:, : int(seconds * rate)]
        self.name, self.rate, self.channels = "replay", rate, channels

    def chunks(self) -> Iterator[np.ndarray]:
        block = int(self.rate)
        for start in range(0, self.data.shape[1], block):
            yield self.data[:, start:start + block]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    seconds = args.minutes * 60
    with open_source(str(RECORDING)) as src:
        data = np.vstack([src.reader.readSignal(i) for i in src.index])
        rate, channels = src.rate, src.channels
    with open_source(str(RECORDING)) as src:
        base = baseline(src, 2.0, 0.5, 18)
    for _ in features(Replay(data, rate, channels, 20), 2.0, 0.5, None, base):
        pass  # warm-up: scipy's first calls and the allocator, outside the timings
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.make(db=Path(tmp) / "o.db", retrieve={"embedder": "hashing"})
        ov = Overlay(settings=settings)
        ov.ingest([ROOT / "examples" / "vault"])
        for step in (0.5, 0.1):
            rules = load_rules(RULES).model_copy(update={"step": step})
            replay = Replay(data, rate, channels, seconds)
            t0 = time.perf_counter()
            n = sum(1 for _ in features(replay, rules.window, step, None, base))
            feat_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            report = watch(Replay(data, rate, channels, seconds), rules, ov, base)
            loop_s = time.perf_counter() - t0
            need = 1 / step
            runs.append({
                "step_s": step,
                "windows": report.windows,
                "features_windows_per_s": round(n / feat_s, 1),
                "loop_windows_per_s": round(report.windows / loop_s, 1),
                "needed_windows_per_s": need,
                "operators_applied": sum(1 for f in report.fired if f.event is not None),
                "margin_over_real_time": round(report.windows / loop_s / need, 1),
                "samples_per_s": round(report.seconds * rate * len(channels) / loop_s),
            })
        ov.close()
    save("signals", {"channels": len(channels), "rate_hz": rate, "signal_s": seconds,
                     "window_s": 2.0, "runs": runs})


if __name__ == "__main__":
    main()
