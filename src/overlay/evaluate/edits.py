"""The edit benchmark: learn each record as a statement, then choose between the new and the
old answer on the edit's prompt (reliability), its rephrasing (generalization) and an
unrelated prompt (locality: the same choice as before any edit).

Only `prompt`, `target_new`, `ground_truth`, `rephrase_prompt`, `locality_prompt` and
`locality_ground_truth` are read — never `subject` or `case_id`: what a statement is about is
worked out by the overlay (see `overlay.retrieve.about`). Prompts may be completions ("… is")
or questions ("What is …?"). The run happens on a scratch copy of the store, so the user's
overlay is never changed.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overlay.engine import Overlay
from overlay.errors import ConfigError, NotFoundError
from overlay.evaluate.arms import sibling
from overlay.lm.base import LM
from overlay.progress import Progress, quiet

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
) -> dict[str, Any]:
    """Run the benchmark on a scratch copy of `overlay`'s store (an empty store with
    `empty`), through `overlay`'s models (or `lm`); the store itself is never changed."""
    tick = progress or quiet
    with tempfile.TemporaryDirectory(prefix="overlay-edits-") as tmp:
        scratch = Path(tmp) / "edits.db"
        if not empty:
            db = overlay.path
            overlay.copy_to(scratch)
            for index in db.parent.glob(db.name + ".*.usearch*"):
                shutil.copy(index, Path(tmp) / index.name.replace(db.name, scratch.name, 1))
        with sibling(overlay, scratch, lm) as ov:
            return _run(ov, records, sequential, tick)


def _choice(ov: Overlay, prompt: str, a: str, b: str) -> tuple[str, str, float]:
    """(overlay's choice, bare model's choice, seconds)."""
    t0 = time.perf_counter()
    trace = ov.selector.choose(prompt, [a, b])
    bare = max(trace.candidates, key=lambda c: c.terms["lm_bare"]).text
    return trace.answer, bare, time.perf_counter() - t0


def _run(ov: Overlay, records: list[Record], sequential: bool, tick: Progress) -> dict[str, Any]:
    n = len(records)
    before = []
    for i, r in enumerate(records):
        before.append(_choice(ov, r.locality_prompt, r.target_new, r.ground_truth)[0])
        tick("before", i + 1, n)
    learn_s: list[float] = []
    eval_s: list[float] = []
    rel: list[bool] = []
    gen: list[bool] = []
    loc: list[bool] = []
    bare_rel: list[bool] = []
    bare_gen: list[bool] = []

    def check(i: int, r: Record) -> None:
        for prompt, hits, bare_hits in (
            (r.prompt, rel, bare_rel),
            (r.rephrase_prompt, gen, bare_gen),
        ):
            got, bare, sec = _choice(ov, prompt, r.target_new, r.ground_truth)
            hits.append(got == r.target_new)
            bare_hits.append(bare == r.target_new)
            eval_s.append(sec)
        got, _bare, sec = _choice(ov, r.locality_prompt, r.target_new, r.ground_truth)
        loc.append(got == before[i])
        eval_s.append(sec)

    events: list[int] = []
    for i, r in enumerate(records):
        t0 = time.perf_counter()
        events.append(ov.learn(r.statement, source="edit benchmark")["event"])
        learn_s.append(time.perf_counter() - t0)
        if not sequential:
            check(i, r)
            ov.undo(events[-1])
        tick("learn", i + 1, n)
    if sequential:
        for i, r in enumerate(records):
            check(i, r)
            tick("evaluate", i + 1, n)

    def mean(xs: list[bool]) -> float:
        return round(sum(xs) / len(xs), 4)

    return {
        "records": n,
        "setting": "sequential" if sequential else "one edit at a time",
        "model": ov.lm.name,
        "overlay": {"reliability": mean(rel), "generalization": mean(gen), "locality": mean(loc)},
        "bare_model": {
            "reliability": mean(bare_rel),
            "generalization": mean(bare_gen),
            "locality": 1.0,
        },
        "learn_ms_p50": round(1000 * statistics.median(learn_s), 2),
        "eval_ms_p50": round(1000 * statistics.median(eval_s), 2),
    }
