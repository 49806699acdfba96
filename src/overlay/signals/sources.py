"""Signal sources: EDF/EDF+/BDF files, a Lab Streaming Layer inlet, BrainFlow's synthetic board.

Each one yields the same thing: `Window`s of the last `window` seconds of samples, every
`step` seconds, with channel names and the rate. Time is signal time (samples counted from
the start), so a file replayed at full speed fires rules exactly as it would live.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from overlay.errors import SignalError

SILENCE_S = 5.0  # a live source that sends nothing for this long has gone


@dataclass(frozen=True)
class Window:
    """`data[c, k]` is sample k of channel `channels[c]`; `t` is where the window ends (s)."""

    t: float
    data: np.ndarray
    rate: float
    channels: tuple[str, ...]


def pick(name: str, available: list[str], wanted: list[str] | None) -> list[int]:
    """Indices of the wanted channels (all when None); a missing one is an error."""
    if not wanted:
        return list(range(len(available)))
    lower = {c.lower(): i for i, c in enumerate(available)}
    missing = [w for w in wanted if w.lower() not in lower]
    if missing:
        raise SignalError(
            f"{name}: no channel {', '.join(map(repr, missing))}; it has {', '.join(available)}"
        )
    return [lower[w.lower()] for w in wanted]


class Source:
    """The common part: channel selection and windowing over chunks of samples."""

    name: str = ""
    rate: float = 0.0
    channels: tuple[str, ...] = ()
    live: bool = False

    def chunks(self) -> Iterator[np.ndarray]:
        """Blocks of samples, (channels, k), in order, until the source ends."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file, inlet or board."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def windows(self, window: float = 2.0, step: float = 0.5) -> Iterator[Window]:
        """Overlapping windows of `window` s every `step` s (the first once one is full)."""
        size, hop = round(window * self.rate), max(1, round(step * self.rate))
        if size < 2:
            raise SignalError(f"{self.name}: a {window:g} s window holds under 2 samples")
        buf = np.zeros((len(self.channels), 0))
        seen = 0  # samples received
        due = size  # sample count at which the next window ends
        for chunk in self.chunks():
            buf = np.concatenate([buf, chunk], axis=1)
            seen += chunk.shape[1]
            while seen >= due:
                end = buf.shape[1] - (seen - due)
                yield Window(due / self.rate, buf[:, end - size:end], self.rate, self.channels)
                due += hop
            buf = buf[:, -(size + hop):]


def _check_size(path: Path) -> None:
    """A file shorter than its EDF/BDF header promises is truncated: say so (pyedflib would
    print a size sum to the terminal and raise "not compliant")."""
    with path.open("rb") as fh:
        head = fh.read(256)
        if head[:1] in (b"0", b"\xff") and len(head) < 256:
            raise SignalError(f"{path}: truncated: {len(head)} bytes, shorter than an EDF header")
        try:
            header_bytes, records = int(head[184:192]), int(head[236:244])
            signals = int(head[252:256])
            if path.stat().st_size < header_bytes:
                raise SignalError(f"{path}: truncated: {path.stat().st_size:,} bytes, shorter "
                                  f"than its own header ({header_bytes:,})")
            fh.seek(256 + signals * 216)  # the samples per record of each signal come here
            per_record = [int(fh.read(8)) for _ in range(signals)]
        except ValueError:
            return  # not an EDF header: pyedflib says what it is not
    width = 3 if head[:1] == b"\xff" else 2  # BDF stores 24-bit samples
    expected = header_bytes + max(records, 0) * sum(per_record) * width
    size = path.stat().st_size
    if size < header_bytes or (records > 0 and size < expected):
        raise SignalError(f"{path}: truncated: {size:,} bytes where its header promises "
                          f"{expected:,} ({records} records of {sum(per_record)} samples)")


class EDFSource(Source):
    """An EDF, EDF+ or BDF file (pyedflib), read a second at a time. Without `channels`, the
    signals at the file's most common rate (annotation channels are not signals)."""

    def __init__(self, path: Path, channels: list[str] | None = None) -> None:
        import pyedflib

        self.name = str(path)
        if not path.is_file():
            raise SignalError(f"{path}: no such file")
        _check_size(path)
        try:
            self.reader = pyedflib.EdfReader(str(path))
        except OSError as exc:
            raise SignalError(f"{path}: not a readable EDF/EDF+/BDF file ({exc})") from None
        labels = [s.strip() for s in self.reader.getSignalLabels()]
        rates = [float(self.reader.getSampleFrequency(i)) for i in range(len(labels))]
        if channels:
            self.index = pick(self.name, labels, channels)
            used = {rates[i] for i in self.index}
            if len(used) > 1:
                self.reader.close()
                raise SignalError(
                    f"{path}: channels {', '.join(channels)} have different rates "
                    f"({', '.join(f'{r:g}' for r in sorted(used))} Hz); pick channels of one rate"
                )
        else:
            if not labels:
                self.reader.close()
                raise SignalError(f"{path}: the file has no signals")
            common = Counter(rates).most_common(1)[0][0]
            self.index = [i for i, r in enumerate(rates) if r == common]
        self.rate = rates[self.index[0]]
        self.channels = tuple(labels[i] for i in self.index)
        self.samples = int(self.reader.getNSamples()[self.index[0]])
        self.duration = self.samples / self.rate
        self.unit = self.reader.getPhysicalDimension(self.index[0]).strip()

    def chunks(self) -> Iterator[np.ndarray]:
        block = max(1, round(self.rate))
        for start in range(0, self.samples, block):
            k = min(block, self.samples - start)
            yield np.vstack([self.reader.readSignal(i, start, k) for i in self.index])

    def close(self) -> None:
        self.reader.close()


class SyntheticSource(Source):
    """BrainFlow's synthetic board, live at 250 Hz, no hardware (its second EEG channel,
    C3, carries a 10 Hz alpha rhythm)."""

    live = True

    def __init__(self, channels: list[str] | None = None) -> None:
        with warnings.catch_warnings():  # brainflow's loader imports pkg_resources
            warnings.simplefilter("ignore")
            from brainflow.board_shim import BoardIds, BoardShim, BrainFlowInputParams

            board_id = BoardIds.SYNTHETIC_BOARD.value
            BoardShim.disable_board_logger()
        self.name = "synthetic"
        rows = BoardShim.get_eeg_channels(board_id)
        names = BoardShim.get_eeg_names(board_id)
        self.index = pick(self.name, names, channels)
        self.rows = [rows[i] for i in self.index]
        self.channels = tuple(names[i] for i in self.index)
        self.rate = float(BoardShim.get_sampling_rate(board_id))
        self.board: Any = BoardShim(board_id, BrainFlowInputParams())
        self.board.prepare_session()
        self.board.start_stream()

    def chunks(self) -> Iterator[np.ndarray]:
        while True:
            time.sleep(0.05)
            data = self.board.get_board_data()
            if data.shape[1]:
                yield data[self.rows]

    def close(self) -> None:
        if self.board.is_prepared():
            self.board.stop_stream()
            self.board.release_session()


class LSLSource(Source):
    """The first Lab Streaming Layer stream of a type (e.g. EEG) on the network, read by
    `lsl_reader.py` in a process of its own (that module says why)."""

    live = True

    def __init__(
        self, stream_type: str, channels: list[str] | None = None, timeout: float = 5.0
    ) -> None:
        self.name = f"lsl:{stream_type}"
        reader = Path(__file__).with_name("lsl_reader.py")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(reader), stream_type, str(timeout), str(SILENCE_S)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C stops the watch loop, which then closes this
        )
        assert self.proc.stdout is not None
        self.pipe = self.proc.stdout
        line = self.pipe.readline()
        try:
            head = json.loads(line)
        except ValueError:
            self.proc.wait(timeout=10)
            why = self._stderr()
            self.close()
            raise SignalError(f"{self.name}: the LSL reader failed: {why}") from None
        if "error" in head:
            self.close()
            raise SignalError(f"{self.name}: {head['error']}")
        self.rate, self.stream = float(head["rate"]), str(head["name"])
        if self.rate <= 0:
            self.close()
            raise SignalError(f"{self.name}: stream {self.stream!r} has no regular rate")
        self.width = len(head["channels"])
        try:
            self.index = pick(self.name, head["channels"], channels)
        except SignalError:
            self.close()
            raise
        self.channels = tuple(head["channels"][i] for i in self.index)

    def chunks(self) -> Iterator[np.ndarray]:
        got = 0
        while True:
            head = self.pipe.read(4)
            if len(head) < 4:
                self.proc.wait(timeout=5)
                raise SignalError(f"{self.name}: stream {self.stream!r} disappeared after "
                                  f"{got / self.rate:.1f} s of signal ({self._stderr()})")
            (n,) = struct.unpack("<I", head)
            body = self.pipe.read(8 * n * self.width)
            block = np.frombuffer(body, dtype="<f8").reshape(n, self.width).T[self.index]
            got += n
            yield block

    def _stderr(self) -> str:
        assert self.proc.stderr is not None
        if self.proc.poll() is None:
            return "still running"
        return self.proc.stderr.read().decode(errors="replace").strip() or (
            f"exit status {self.proc.returncode}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def open_source(spec: str, channels: list[str] | None = None) -> Source:
    """`synthetic`, `lsl:TYPE`, or a path to an EDF/EDF+/BDF file."""
    if spec == "synthetic":
        return SyntheticSource(channels)
    if spec.startswith("lsl:"):
        if not spec[4:]:
            raise SignalError("lsl: needs a stream type, e.g. lsl:EEG")
        return LSLSource(spec[4:], channels)
    return EDFSource(Path(spec), channels)
