"""The edit benchmark: learn each record as a statement, then measure it in the field's two
conventions (`CONVENTIONS` says what each counts):

- the headline (`overlay`, `bare_model`): choose between the new and the old answer on the
  edit's prompt (reliability), its rephrasing (generalization) and an unrelated prompt
  (locality: the same choice as before any edit);
- `wise` (WISE/GRACE): the edited answer is *produced* — the overlay's answer (or the bare
  model's greedy one) contains the new object — and the answer to the unrelated prompt is
  unchanged;
- `counterfact` (Meng et al.): the new object is more probable than the true one on the
  prompt (efficacy) and its rephrasing (paraphrase); on the neighbourhood prompt its true
  object is more probable than the new one (neighbourhood).

Only `prompt`, `target_new`, `ground_truth`, `rephrase_prompt`, `locality_prompt` and
`locality_ground_truth` are read — never `subject` or `case_id`: what a statement is about is
worked out by the overlay (see `overlay.retrieve.about`). Prompts may be completions ("… is")
or questions ("What is …?"). The run happens on a scratch copy of the store, so the user's
overlay is never changed.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overlay.engine import Overlay
from overlay.errors import ConfigError, NotFoundError
from overlay.evaluate.arms import scratch
from overlay.lm.base import LM
from overlay.progress import Progress, quiet

CONVENTIONS = {
    "headline": "a choice between the new and the true object on the prompt (reliability) and "
    "its rephrasing (generalization); locality: the unrelated prompt's choice is the one made "
    "before any edit",
    "wise": "WISE/GRACE: the answer produced (the overlay's statement; the bare model's greedy "
    "text) contains the new object on the prompt (reliability) and its rephrasing "
    "(generalization); locality: the answer to the unrelated prompt is the one given before "
    "any edit",
    "counterfact": "CounterFact: P(new object) > P(true object) on the prompt (efficacy) and "
    "its rephrasing (paraphrase); on the neighbourhood prompt P(its true object) > P(new "
    "object) (neighbourhood)",
}
WISE_TOKENS = 24  # the bare model's greedy answer: enough for any object in these sets

FIELDS = (
    "prompt",
    "target_new",
    "ground_truth",
    "rephrase_prompt",
    "locality_prompt",
    "locality_ground_truth",
)


@dataclass(frozen=True)
class Record:
    prompt: str
    target_new: str
    ground_truth: str
    rephrase_prompt: str
    locality_prompt: str
    locality_ground_truth: str

    @property
    def statement(self) -> str:
        """The edit as a statement: the prompt completed, or the question answered."""
        text = self.prompt.strip()
        return f"{text} {self.target_new.strip()}".rstrip(".") + "."


def load(path: Path, limit: int | None = None) -> list[Record]:
    """Records from a JSON list or JSON Lines file; errors name the record."""
    if not path.exists():
        raise NotFoundError(f"no edit file at {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = (
            json.loads(text)
            if text.lstrip().startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
    records = []
    for i, row in enumerate(data[:limit] if limit else data):
        missing = [f for f in FIELDS if not isinstance(row.get(f), str) or not row[f].strip()]
        if missing:
            raise ConfigError(f"{path}: record {i} lacks {', '.join(missing)}")
        records.append(Record(**{f: row[f] for f in FIELDS}))
    if not records:
        raise ConfigError(f"{path}: no records")
    return records


def evaluate(
    overlay: Overlay,
    records: list[Record],
    sequential: bool = True,
    progress: Progress | None = None,
    *,
    lm: LM | None = None,
    empty: bool = False,
    wise: bool = True,
    measure: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """Run the benchmark on a scratch copy of `overlay`'s store (an empty store with
    `empty`), through `overlay`'s models (or `lm`); the store itself is never changed.

    Every record is learned, in order. `measure` names groups of record indices to measure
    (all records when None): the report covers them together and, under `groups`, each on its
    own — the first-learned records of a long run measure forgetting. `wise` adds the
    WISE/GRACE convention, which generates answers (about twice as slow)."""
    n = len(records)
    groups = measure or {"all": list(range(n))}
    bad = sorted({i for g in groups.values() for i in g if not 0 <= i < n})
    if bad:
        raise ConfigError(f"records to measure out of range 0..{n - 1}: {bad[:5]}")
    with scratch(overlay, lm, empty) as ov:
        result = _run(ov, records, sequential, progress or quiet, wise, groups)
        where = ov.store.path
        if isinstance(where, Path):  # a database server's size is not this store's alone
            result["store_bytes"] = sum(f.stat().st_size for f in where.parent.glob(
                where.name + "*"))
    if measure is None:
        del result["groups"]
    return result


def _choice(ov: Overlay, prompt: str, a: str, b: str) -> tuple[str, str, float]:
    """(overlay's choice, bare model's choice, seconds)."""
    t0 = time.perf_counter()
    trace = ov.selector.choose(prompt, [a, b])
    bare = max(trace.candidates, key=lambda c: c.terms["lm_bare"]).text
    return trace.answer, bare, time.perf_counter() - t0


def produces(answer: str, target: str) -> bool:
    """Whether `answer` states `target` as whole words, case and spacing aside."""
    def norm(s: str) -> str:
        return " ".join(s.casefold().split())

    said, wanted = norm(answer), norm(target)
    at = said.find(wanted)
    while at >= 0 and wanted:  # an occurrence not inside a longer word
        end = at + len(wanted)
        if not (at and _word(said[at - 1])) and not (end < len(said) and _word(said[end])):
            return True
        at = said.find(wanted, at + 1)
    return False


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _answer(ov: Overlay, prompt: str) -> str:
    """The overlay's answer, as `overlay ask` gives it (statement mode), unrecorded."""
    return ov.selector.ask(prompt).answer


def _bare_answer(ov: Overlay, prompt: str) -> str:
    """The bare writing model's greedy answer to `prompt` as a chat turn."""
    lm = ov.selector.writer
    chat = lm.chat_template([{"role": "user", "content": prompt}])
    return lm.generate(chat, max_tokens=WISE_TOKENS).text


Marks = dict[str, list[bool]]


def _before(ov: Overlay, r: Record, marks: Marks, wise: bool) -> tuple[str, str]:
    """What the unrelated prompt got before any edit (its choice and its answer); the bare
    model's greedy answers, which no edit changes, are marked here."""
    choice = _choice(ov, r.locality_prompt, r.target_new, r.ground_truth)[0]
    if not wise:
        return choice, ""
    for prompt, key in ((r.prompt, "reliability"), (r.rephrase_prompt, "generalization")):
        marks[f"wise.bare.{key}"].append(produces(_bare_answer(ov, prompt), r.target_new))
    return choice, _answer(ov, r.locality_prompt)


def _check(ov: Overlay, r: Record, before: tuple[str, str], marks: Marks,
           seconds: list[float], wise: bool) -> None:
    """Mark one learned record in every convention."""
    for prompt, key in ((r.prompt, "reliability"), (r.rephrase_prompt, "generalization")):
        got, bare, sec = _choice(ov, prompt, r.target_new, r.ground_truth)
        marks[f"overlay.{key}"].append(got == r.target_new)
        marks[f"bare.{key}"].append(bare == r.target_new)
        seconds.append(sec)
        if wise:
            marks[f"wise.overlay.{key}"].append(produces(_answer(ov, prompt), r.target_new))
    got, bare, sec = _choice(ov, r.locality_prompt, r.target_new, r.ground_truth)
    marks["overlay.locality"].append(got == before[0])
    seconds.append(sec)
    if wise:
        marks["wise.overlay.locality"].append(_answer(ov, r.locality_prompt) == before[1])
    truth = r.locality_ground_truth
    if truth.strip().casefold() == r.target_new.strip().casefold():
        return  # "the true object above the new one" means nothing when they are one
    if truth != r.ground_truth:  # zsRE-style: the neighbourhood prompt has its own object
        got, bare, _sec = _choice(ov, r.locality_prompt, r.target_new, truth)
    marks["counterfact.overlay.neighbourhood"].append(got == truth)
    marks["counterfact.bare.neighbourhood"].append(bare == truth)


def _latency(seconds: list[float]) -> dict[str, float]:
    ms = sorted(1000 * s for s in seconds)
    return {"p50": round(statistics.median(ms), 2),
            "p95": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 2)}


def _run(ov: Overlay, records: list[Record], sequential: bool, tick: Progress, wise: bool,
         groups: dict[str, list[int]]) -> dict[str, Any]:
    n = len(records)
    measured = sorted({i for g in groups.values() for i in g})
    owners: dict[int, list[str]] = defaultdict(list)
    for name, members in groups.items():
        for i in members:
            owners[i].append(name)
    marks: dict[str, Marks] = {name: defaultdict(list) for name in ["*", *groups]}

    def share(i: int, mine: Marks) -> None:  # one record's marks, to every group it is in
        for name in ["*", *owners[i]]:
            for key, values in mine.items():
                marks[name][key] += values

    before: dict[int, tuple[str, str]] = {}
    for k, i in enumerate(measured):
        mine: Marks = defaultdict(list)
        before[i] = _before(ov, records[i], mine, wise)
        share(i, mine)
        tick("before", k + 1, len(measured))
    learn_s: list[float] = []
    eval_s: list[float] = []

    def check(i: int) -> None:
        mine: Marks = defaultdict(list)
        _check(ov, records[i], before[i], mine, eval_s, wise)
        share(i, mine)

    for i, r in enumerate(records):
        t0 = time.perf_counter()
        event = ov.learn(r.statement, source="edit benchmark")["event"]
        learn_s.append(time.perf_counter() - t0)
        if not sequential and i in before:
            check(i)
            ov.undo(event)
        tick("learn", i + 1, n)
    if sequential:
        for k, i in enumerate(measured):
            check(i)
            tick("evaluate", k + 1, len(measured))
    out: dict[str, Any] = {
        "records": n,
        "measured": len(measured),
        "setting": "sequential" if sequential else "one edit at a time",
        "model": ov.lm.name,
        **_report(marks["*"], wise),
        "groups": {name: {"records": len(groups[name]), **_report(marks[name], wise, False)}
                   for name in groups},
        **{f"learn_ms_{k}": v for k, v in _latency(learn_s).items()},
        "eval_ms_p50": round(1000 * statistics.median(eval_s), 2) if eval_s else None,
    }
    if n > 1000:  # the learn latency with the first thousand facts, and with the last
        out["learn_ms"] = {"first_1000": _latency(learn_s[:1000]),
                           "last_1000": _latency(learn_s[-1000:])}
    return out


def _report(marks: Marks, wise: bool = True, about: bool = True) -> dict[str, Any]:
    """The marks as shares, per convention and system (None where nothing applied); `about`
    says what each convention counts."""
    def mean(key: str) -> float | None:
        xs = marks.get(key, [])
        return round(sum(xs) / len(xs), 4) if xs else None

    head = ("reliability", "generalization", "locality")
    cf = {"efficacy": "reliability", "paraphrase": "generalization"}
    overlay = {k: mean(f"overlay.{k}") for k in head}
    bare = {"reliability": mean("bare.reliability"),
            "generalization": mean("bare.generalization"), "locality": 1.0}
    return {
        "overlay": overlay,
        "bare_model": bare,
        "conventions": {
            **({"about": CONVENTIONS} if about else {}),
            "wise": {"overlay": {k: mean(f"wise.overlay.{k}") for k in head},
                     "bare_model": {"reliability": mean("wise.bare.reliability"),
                                    "generalization": mean("wise.bare.generalization"),
                                    "locality": 1.0}} if wise else None,
            "counterfact": {
                "overlay": {**{k: overlay[v] for k, v in cf.items()},
                            "neighbourhood": mean("counterfact.overlay.neighbourhood")},
                "bare_model": {**{k: bare[v] for k, v in cf.items()},
                               "neighbourhood": mean("counterfact.bare.neighbourhood")},
            },
        },
    }
