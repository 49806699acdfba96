"""Self-tests of a built dataset, run on the arms of `overlay.evaluate.arms`, which deliver
the knowledge differently: `bare` (the base model), `inside` (a LoRA imprint), `outside` (the
selector over a store), `both` (the selector over the adapted model).

Two scores per self-test: *match*, whether the arm's free answer contains the expected answer
or an accepted variant (after normalisation), and *choose*, whether the arm ranks the expected
answer above the self-test's distractors (the bare and adapter arms by mean token log-prob of
each option after the question; the overlay arms through `Overlay.choose`). Results are kept
per module, so a module that broke another shows up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overlay.dataset.export import SELFTEST, read_jsonl, require_built
from overlay.dataset.text import normalise
from overlay.errors import ConfigError
from overlay.evaluate.arms import Arm
from overlay.progress import Progress

# the self-test reworded: the score should hold when only the wording changes
REWORDINGS = (
    "Answer briefly: {q}",
    "{q} Please be concise.",
    "Here is a question for you. {q}",
)


@dataclass(frozen=True)
class SelfTest:
    id: str
    module: str
    question: str
    answer: str
    variants: tuple[str, ...]
    distractors: tuple[str, ...]


def load_tests(
    dataset: Path, module: str | None = None, limit: int | None = None
) -> list[SelfTest]:
    require_built(dataset)
    rows = read_jsonl(dataset / SELFTEST)
    tests = [
        SelfTest(r["id"], r["module"], r["question"], r["answer"], tuple(r.get("variants", [])),
                 tuple(r.get("distractors", [])))
        for r in rows
        if module is None or r["module"] == module
    ]
    if not tests:
        where = f" in module {module!r}" if module else ""
        raise ConfigError(f"{dataset}: no self-tests{where}")
    return tests[:limit] if limit else tests


def matches(answer: str, test: SelfTest) -> bool:
    """The free answer contains the expected answer or a variant, normalised."""
    said = normalise(answer)
    return any(normalise(a) and normalise(a) in said for a in (test.answer, *test.variants))


def _rate(hits: list[bool]) -> float | None:
    return round(sum(hits) / len(hits), 4) if hits else None


def run(
    tests: list[SelfTest],
    arm: Arm,
    progress: Progress | None = None,
    free: bool = True,
    paraphrase: bool = False,
) -> dict[str, Any]:
    """Both scores for every self-test on one arm, overall and per module (`free=False` skips
    the free answers: choose only, which is fast). With `paraphrase`, choose also runs on each
    rewording: `paraphrase` is the pass rate over rewordings, `stable` the share of self-tests
    whose outcome no rewording changed."""
    rows: list[dict[str, Any]] = []
    per: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for k, test in enumerate(tests, 1):
        row: dict[str, Any] = {"id": test.id, "module": test.module}
        if free:
            row["answer"] = arm.answer(test.question)
            row["match"] = matches(row["answer"], test)
            per[test.module]["match"].append(row["match"])
        if test.distractors:
            good = {test.answer, *test.variants}
            options = list(dict.fromkeys([test.answer, *test.variants, *test.distractors]))
            row["chose"] = arm.choose(test.question, options)
            row["choose"] = row["chose"] in good
            per[test.module]["choose"].append(row["choose"])
            if paraphrase:
                reworded = [arm.choose(r.format(q=test.question), options) in good
                            for r in REWORDINGS]
                row["paraphrase"] = reworded
                row["stable"] = all(x == row["choose"] for x in reworded)
        rows.append(row)
        if progress:
            progress(arm.name, k, len(tests))
    return {
        "arm": arm.name,
        "model": arm.lm.name,
        "n": len(rows),
        "match": _rate([r["match"] for r in rows if "match" in r]),
        "choose": _rate([r["choose"] for r in rows if "choose" in r]),
        "paraphrase": _rate([x for r in rows for x in r.get("paraphrase", [])]),
        "stable": _rate([r["stable"] for r in rows if "stable" in r]),
        "modules": {
            m: {"n": len(v["match"]), "match": _rate(v["match"]), "choose": _rate(v["choose"])}
            for m, v in sorted(per.items())
        },
        "tests": rows,
    }


def evaluate(
    tests: list[SelfTest],
    arms: list[Arm],
    progress: Progress | None = None,
    paraphrase: bool = True,
    locality: bool = True,
) -> list[dict[str, Any]]:
    """Every arm on the self-tests; locality of each arm against the first (the bare model)."""
    from overlay.evaluate import locality as loc

    results = [run(tests, arm, progress, paraphrase=paraphrase) for arm in arms]
    if locality and arms:
        bare_choices, bare_ce = loc.choices(arms[0].choose), loc.cross_entropy(arms[0].lm)
        for arm, result in zip(arms, results, strict=True):
            same = arm.lm is arms[0].lm
            ce = bare_ce if same else loc.cross_entropy(arm.lm)
            if arm.overlay is not None:  # against the model alone in the overlay's own prompt
                pairs = loc.choices(arm.own_bare_choice)
                mine, reference = [p[0] for p in pairs], [p[1] for p in pairs]
            else:
                mine, reference = (bare_choices if same else loc.choices(arm.choose)), bare_choices
            result["locality"] = loc.compare(mine, reference, ce, bare_ce)
    return results
