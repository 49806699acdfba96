"""The ranking benchmark: labelled questions, each with its gold notes, asked as `overlay ask`
asks them. The candidates of each ask are ranked three ways — by the retrieval term alone, by
the LM term alone and by the selector's score — and each ranking gets nDCG@10 and top-1 (a
candidate is relevant when it comes from a gold note). Then every answer is judged from the
gold notes (good when its first citation comes from one), the verdicts are given as
`overlay feedback` gives them, and the questions are asked again: the selector learns from
experience, retrieval alone does not. All of it runs on a scratch copy of the store.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overlay.engine import Overlay
from overlay.errors import ConfigError, NotFoundError
from overlay.evaluate.arms import scratch
from overlay.progress import Progress, quiet
from overlay.trace import Candidate, Trace

ORDERS = ("retrieval", "lm", "selector")
K = 10


@dataclass(frozen=True)
class Question:
    question: str
    gold: tuple[str, ...]  # note names: a file's name without its extension


def read_json(path: Path, what: str) -> Any:
    """A benchmark's JSON file; a missing file or bad JSON is one error naming it (and the
    line)."""
    if not path.exists():
        raise NotFoundError(f"no {what} file at {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None


def load(path: Path) -> list[Question]:
    """Questions from a JSON list of {"question", "gold": [note, ...]}; errors name the item."""
    data = read_json(path, "question")
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{path}: expected a non-empty JSON list of questions")
    out = []
    for i, row in enumerate(data):
        gold = row.get("gold") if isinstance(row, dict) else None
        if (not isinstance(row, dict) or not isinstance(row.get("question"), str)
                or not isinstance(gold, list) or not gold
                or not all(isinstance(g, str) and g for g in gold)):
            raise ConfigError(f"{path}: item {i} needs a question and a non-empty gold list")
        out.append(Question(row["question"], tuple(gold)))
    return out


def ndcg(relevant: list[bool], k: int = K) -> float:
    """nDCG@k of one ranking with binary relevance, against the best order of the same
    candidates (0 when none is relevant)."""
    dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(relevant[:k]) if r)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, sum(relevant))))
    return dcg / ideal if ideal else 0.0


def sign_test(better: int, worse: int) -> float:
    """Two-sided sign test p-value for `better` against `worse` (ties left out)."""
    n = better + worse
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(better, worse) + 1)) / 2**n
    return float(min(1.0, 2 * tail))


def order(cands: list[Candidate], by: str) -> list[Candidate]:
    """The candidates ranked by one term or (`selector`) by their score; ties keep the order
    the selector found them in."""
    if by == "selector":
        return sorted(cands, key=lambda c: -c.score)
    return sorted(cands, key=lambda c: -c.terms.get(by, 0.0))


class _Notes:
    """Which note each node comes from, looked up once."""

    def __init__(self, ov: Overlay) -> None:
        self.ov = ov
        self.known: dict[str, str] = {}

    def of(self, node_id: str | None) -> str:
        if not node_id:
            return ""
        if node_id not in self.known:
            source = self.ov.node(node_id).source_path
            self.known[node_id] = Path(source).stem if source else ""
        return self.known[node_id]


def _round(ov: Overlay, questions: list[Question], notes: _Notes, stage: str,
           tick: Progress) -> tuple[list[Trace], dict[str, list[float]]]:
    """Ask every question once: its trace and, per ranking, nDCG@10 and top-1 per question."""
    traces: list[Trace] = []
    marks: dict[str, list[float]] = {f"{o}.{m}": [] for o in ORDERS for m in ("ndcg", "top1")}
    for i, q in enumerate(questions):
        trace = ov.ask(q.question)
        traces.append(trace)
        if trace.settings.get("lm_deferred") and trace.candidates:  # "the LM alone" needs it
            ov.selector.lm_terms(q.question, trace.candidates)
        for by in ORDERS:
            rel = [notes.of(c.node_id) in q.gold for c in order(trace.candidates, by)]
            marks[f"{by}.ndcg"].append(ndcg(rel))
            marks[f"{by}.top1"].append(float(bool(rel) and rel[0]))
        tick(stage, i + 1, len(questions))
    return traces, marks


def _judge(ov: Overlay, questions: list[Question], traces: list[Trace], notes: _Notes) -> int:
    """Give each answer its verdict from the gold notes; how many were good."""
    good = 0
    for q, trace in zip(questions, traces, strict=True):
        if not trace.cited:
            continue  # nothing was answered: there is no verdict to give
        verdict = "good" if notes.of(trace.cited[0]) in q.gold else "bad"
        good += verdict == "good"
        ov.feedback(trace.id, verdict)
    return good


def _summary(marks: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for by in ORDERS:
        nd, top = marks[f"{by}.ndcg"], marks[f"{by}.top1"]
        out[by] = {"ndcg@10": round(sum(nd) / len(nd), 4), "top1": round(sum(top) / len(top), 4)}
    sel, ret = marks["selector.ndcg"], marks["retrieval.ndcg"]
    better = sum(s > r + 1e-9 for s, r in zip(sel, ret, strict=True))
    worse = sum(s < r - 1e-9 for s, r in zip(sel, ret, strict=True))
    out["selector_vs_retrieval"] = {"better": better, "worse": worse,
                                    "sign_test_p": round(sign_test(better, worse), 4)}
    return out


def evaluate(overlay: Overlay, questions: list[Question], progress: Progress | None = None,
             ) -> dict[str, Any]:
    """Out of the box, then after one round of verdicts, on a scratch copy of the store."""
    tick = progress or quiet
    with scratch(overlay) as ov:
        notes = _Notes(ov)
        known = {notes.of(n.id) for n in ov.store.iter_nodes() if n.source_path}
        missing = sorted({g for q in questions for g in q.gold} - known)
        if missing:
            raise ConfigError(f"gold notes not in the overlay: {', '.join(missing[:5])}")
        traces, before = _round(ov, questions, notes, "ask", tick)
        good = _judge(ov, questions, traces, notes)
        _traces, after = _round(ov, questions, notes, "ask again", tick)
        return {
            "questions": len(questions),
            "model": ov.lm.name,
            "out_of_the_box": _summary(before),
            "verdicts": {"good": good, "bad": sum(bool(t.cited) for t in traces) - good},
            "after_feedback": _summary(after),
        }
