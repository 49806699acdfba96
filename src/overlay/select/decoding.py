"""Token-level overlay decoding: bias or constrain generation toward the chosen statements.

- `StatementIndex` finds, for the tokens generated so far, every place in the chosen statements
  that they continue (longest suffix match), and what token comes next there.
- `OverlayBias` is a transformers `LogitsProcessor` that mixes the LM's next-token distribution
  with the statements' (kNN-LM-style): p = (1-λ)·p_LM + λ·p_overlay.
- `strict_processor` wraps `allowed_tokens` in transformers' own `PrefixConstrainedLogitsProcessor`:
  only tokens that continue a statement, start one, or belong to a connective may be emitted.
- `strict_pattern` is strict mode for a served writer: the same limits as a regular expression
  for the server's constrained decoding (no logits processor crosses HTTP).
- `attribute` maps generated tokens back to the statements they were copied from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessor, PrefixConstrainedLogitsProcessor

from overlay.lm.base import LM
from overlay.patterns import S, linear
from overlay.trace import Span

_SENTENCE_GAP = linear(rf"[.!?][{S}]+")

MAX_MATCH = 16
MIN_FREE = 3
END = -1


@dataclass
class StatementIndex:
    """Token sequences of the chosen statements (and connectives), indexed by token."""

    seqs: list[list[int]] = field(default_factory=list)
    owners: list[str | None] = field(default_factory=list)  # node id; None for connectives
    where: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    # kept up to date by `add`, since generation reads them at every token
    starts: set[int] = field(default_factory=set)  # first tokens of every sequence
    openers: dict[int, float] = field(default_factory=dict)  # statements' first tokens, counted
    enders: set[int] = field(default_factory=set)  # statements' last tokens (a full stop, mostly)

    @classmethod
    def build(
        cls, lm: LM, statements: Sequence[tuple[str, str]], connectives: Sequence[str] = (),
        sentences: bool = False,
    ) -> StatementIndex:
        """`statements` are (node_id, text); each is indexed with and without a leading space,
        and with `sentences` each of its sentences too (a writer held to `strict_pattern` may
        start at any sentence, which tokenizes differently at the start of the text)."""
        index = cls()
        for node_id, text in statements:
            parts = [text, *(sentences_of(text)[1:] if sentences else [])]
            for part in parts:
                for variant in (part, " " + part):
                    index.add(lm.encode(variant), node_id)
        for word in connectives:
            index.add(lm.encode(word), None)
        return index

    def add(self, ids: list[int], owner: str | None) -> None:
        if not ids or ids in self.seqs:
            return
        s = len(self.seqs)
        self.seqs.append(ids)
        self.owners.append(owner)
        for p, tok in enumerate(ids):
            self.where.setdefault(tok, []).append((s, p))
        self.starts.add(ids[0])
        if owner is not None:
            self.openers[ids[0]] = self.openers.get(ids[0], 0.0) + 1.0
            self.enders.add(ids[-1])

    def matches(self, generated: Sequence[int]) -> list[tuple[int, int, int]]:
        """(match length, sequence, next position) for every place `generated` continues."""
        if not generated:
            return []
        out = []
        for s, p in self.where.get(generated[-1], []):
            seq, m = self.seqs[s], 1
            while (
                m < MAX_MATCH and m <= p and m < len(generated) and seq[p - m] == generated[-1 - m]
            ):
                m += 1
            out.append((m, s, p + 1))
        return out

    def next_tokens(self, generated: Sequence[int], eos: int) -> dict[int, float]:
        """Next-token weights from the statements (the kNN-LM "datastore" lookup).

        A match counts when it is anchored (the text so far copies a statement from its first
        token) or at least `MIN_FREE` tokens long; a one-token match on a common word would
        otherwise jump into the middle of an unrelated sentence. The longest counting matches
        vote for their next token (a finished statement votes for EOS); with none, at the start
        or after a sentence's end, the statements' first tokens share the weight; elsewhere the
        LM's own distribution stands."""
        found = [(m, s, nxt) for m, s, nxt in self.matches(generated) if m == nxt or m >= MIN_FREE]
        if found:
            best = max(m for m, _, _ in found)
            found = [f for f in found if f[0] == best]
        weights: dict[int, float] = {}
        for _m, s, nxt in found:
            seq = self.seqs[s]
            tok = seq[nxt] if nxt < len(seq) else eos
            weights[tok] = weights.get(tok, 0.0) + 1.0
        if not weights and (not generated or generated[-1] in self.enders):
            weights = dict(self.openers)
        return weights


def allowed_tokens(index: StatementIndex, generated: Sequence[int], eos: int) -> list[int]:
    """Strict mode's allowed set after `generated`: any continuation of any match, the first
    token of any statement or connective, and EOS once a statement or connective has ended."""
    allowed = set(index.starts)
    for _m, s, nxt in index.matches(generated):
        seq = index.seqs[s]
        allowed.add(seq[nxt] if nxt < len(seq) else eos)
    return sorted(allowed)


class _FromFirstCall:
    """Remembers the prompt length on the first call: generation starts right after it."""

    def __init__(self) -> None:
        self.prompt_len: int | None = None

    def generated(self, input_ids: torch.Tensor) -> list[int]:
        if self.prompt_len is None:
            self.prompt_len = int(input_ids.shape[-1])
        return [int(t) for t in input_ids[self.prompt_len :].tolist()]


class OverlayBias(LogitsProcessor):
    """p = (1-λ)·softmax(scores) + λ·p_overlay; returns log p (so argmax/sampling still work)."""

    def __init__(self, index: StatementIndex, lam: float, eos: int) -> None:
        self.index, self.lam, self.eos = index, lam, eos
        self._pos = _FromFirstCall()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.lam <= 0:
            return scores
        out = scores.float().log_softmax(-1).exp()
        for row in range(scores.shape[0]):
            gen = self._pos.generated(input_ids[row])
            weights = self.index.next_tokens(gen, self.eos)
            if not weights:
                continue
            ids = torch.tensor(list(weights), dtype=torch.long)
            w = torch.tensor(list(weights.values()), dtype=out.dtype)
            out[row].mul_(1 - self.lam)
            out[row].index_add_(0, ids, self.lam * w / w.sum())
        return out.clamp_min(1e-30).log().to(scores.dtype)  # type: ignore[return-value]


def strict_processor(index: StatementIndex, eos: int) -> LogitsProcessor:
    """transformers' constrained-generation hook, fed by `allowed_tokens`."""
    pos = _FromFirstCall()

    def allowed(_batch_id: int, sent: torch.Tensor) -> list[int]:
        return allowed_tokens(index, pos.generated(sent), eos)

    return PrefixConstrainedLogitsProcessor(allowed, num_beams=1)


def attribute(
    lm: LM,
    ids: Sequence[int],
    index: StatementIndex,
    min_run: int = 3,
    pieces: Sequence[str] | None = None,
) -> tuple[str, list[Span]]:
    """The answer text and its spans: greedy longest runs copied from a statement become
    'overlay' spans citing it; connective tokens 'connective'; everything else 'model'.
    `pieces`, the text of each token as it was generated, saves decoding every prefix."""
    if pieces is not None and len(pieces) == len(ids):
        text, cuts = "".join(pieces), [0]
        for piece in pieces:
            cuts.append(cuts[-1] + len(piece))
    else:
        text = lm.decode(ids)
        cuts = [0]
        for k in range(1, len(ids) + 1):
            cuts.append(min(len(lm.decode(ids[:k])), len(text)))
    labels: list[tuple[str, str | None]] = []
    i = 0
    while i < len(ids):
        best, owner = 0, None
        for s, p in index.where.get(ids[i], []):
            seq, k = index.seqs[s], 0
            while i + k < len(ids) and p + k < len(seq) and seq[p + k] == ids[i + k]:
                k += 1
            if k > best or (k == best and owner is None and index.owners[s] is not None):
                best, owner = k, index.owners[s]
        if owner is not None and best >= min(min_run, _shortest(index, owner)):
            labels += [("overlay", owner)] * best
            i += best
        elif best and owner is None:
            labels += [("connective", None)] * best
            i += best
        else:
            labels.append(("model", None))
            i += 1
    spans: list[Span] = []
    start = 0
    for k in range(1, len(labels) + 1):
        if k == len(labels) or labels[k] != labels[start]:
            origin, owner = labels[start]
            a, b = cuts[start], cuts[k]
            if b > a:
                spans.append(Span(a, b, text[a:b], [owner] if owner else [], origin))
            start = k
    return text, spans


def sentences_of(text: str) -> list[str]:
    """A statement's sentences, as strict mode over a server lets them be written."""
    out, start = [], 0
    for m in _SENTENCE_GAP.finditer(text):  # a sentence keeps its end mark (no lookbehind)
        out.append(text[start:m.start() + 1])
        start = m.end()
    out.append(text[start:])
    return [s.strip() for s in out if s.strip()]


def strict_pattern(statements: Sequence[str], connectives: Sequence[str]) -> str:
    """Strict mode for a writer behind a server: a regular expression of what may be written —
    whole sentences of the statements, each at most once and in the notes' order (any of them
    may be left out), joined by a space or one of the connectives."""
    sentences = [re.escape(s) for s in dict.fromkeys(
        s for text in statements for s in sentences_of(text)
    )]
    joins = [re.escape(c.strip()) for c in connectives if c.strip()]
    sep = rf"(?: ?(?:{'|'.join(joins)}))? " if joins else " "
    starts = [s + "".join(f"(?:{sep}{t})?" for t in sentences[i + 1 :])
              for i, s in enumerate(sentences)]
    return "(?:" + "|".join(starts) + ")"


def _shortest(index: StatementIndex, owner: str) -> int:
    return min(len(s) for s, o in zip(index.seqs, index.owners, strict=True) if o == owner)


def processors(lm: LM, index: StatementIndex, lam: float, strict: bool) -> list[Any]:
    """The processors for compose mode: the bias, and in strict mode the hard constraint."""
    procs: list[Any] = [OverlayBias(index, lam, lm.eos_token_id)]
    if strict:
        procs.append(strict_processor(index, lm.eos_token_id))
    return procs
