"""The signature probe set: questions derived from the dataset's own content, and the test of
whether a model carries the imprint.

A probe asks about a node with wording no training or self-test template uses, and pairs the
node's statement (true) with the same words in another order (foil). A model's margin is the
mean token log-probability of the true statement minus the foil's, after the question. Its *gain*
on a probe is that margin minus the base model's margin on the same probe: the foil has the same
tokens, so a model that merely favours the domain's words gains nothing, and what remains is
the exact sequences the imprint taught. If the model carries the
imprint, gains are positive far more often than chance: a one-sided sign (binomial) test on the
number of positive gains gives the p-value.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from overlay.dataset.spec import Spec
from overlay.lm.base import LM

TEMPLATES = (
    "From what you were taught about {t}, state one fact.",
    "Recall the lesson on {t}.",
    "What was written about {t}?",
)


@dataclass(frozen=True)
class Probe:
    id: str
    node: str
    question: str
    answer: str
    foil: str


def make_probes(
    spec: Spec, seed: int = 0, limit: int = 96, module: str | None = None
) -> list[Probe]:
    """Up to `limit` probes over every node (of `module` only, when an adapter learned just
    that one); deterministic for a spec and seed."""
    refs = [r for r in spec.refs if module is None or r.module == module]
    rng = random.Random(seed)
    probes = []
    for ref in refs:
        for k, statement in enumerate(ref.node.statements[:3]):
            for j, template in enumerate(TEMPLATES):
                foil = scrambled(statement.text, rng)
                if foil != statement.text:
                    probes.append(Probe(f"{ref.key}/probe-{k}-{j}", ref.key,
                                        template.format(t=ref.node.name), statement.text, foil))
    rng.shuffle(probes)
    return sorted(probes[:limit], key=lambda p: p.id)


def scrambled(text: str, rng: random.Random) -> str:
    """The same words in another order (first word kept): the same tokens, not the sentence."""
    words = text.split()
    middle = words[1:]
    for _ in range(5):
        rng.shuffle(middle)
        if middle != words[1:]:
            break
    return " ".join(words[:1] + middle)


def margins(lm: LM, probes: list[Probe]) -> list[float]:
    """Per probe: mean log-prob of the true statement minus the foil's, after the question."""
    out = []
    for p in probes:
        prompt = lm.chat_template([{"role": "user", "content": p.question}])
        true, foil = lm.score(prompt, [p.answer, p.foil])
        out.append(true.normalised(1.0) - foil.normalised(1.0))
    return out


def gains(model: LM, base: LM, probes: list[Probe]) -> list[float]:
    """Per probe: the model's margin minus the base model's."""
    mine = margins(model, probes)
    theirs = mine if model is base else margins(base, probes)
    pairs = zip(mine, theirs, strict=True)
    return [m - b for m, b in pairs]


def sign_test(gains: list[float], eps: float = 1e-6) -> dict[str, Any]:
    """One-sided binomial test of 'gains are positive more often than half the time'."""
    n, k = len(gains), sum(1 for g in gains if g > eps)
    p = math.fsum(math.comb(n, j) for j in range(k, n + 1)) / 2**n if n else 1.0
    return {
        "n": n,
        "positive": k,
        "p_value": p,
        "median_gain": statistics.median(gains) if gains else 0.0,
        "mean_gain": statistics.fmean(gains) if gains else 0.0,
    }


def probe_json(probes: list[Probe]) -> list[dict[str, str]]:
    return [asdict(p) for p in probes]


def probes_from(data: list[dict[str, str]]) -> list[Probe]:
    return [Probe(**p) for p in data]
