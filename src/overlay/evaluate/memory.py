"""The memory benchmark: LoCoMo-style conversations (sessions of dated turns, and questions
whose `evidence` names the turns that hold the answer), asked as a user asks them.

Each conversation is ingested into its own empty overlay, the way `overlay ingest` reads a
LoCoMo file. Every question with evidence is then asked four ways, each giving a ranking of
turns: the lexical list alone (BM25 over stems), the dense list alone (the embedder), hybrid
search (`Overlay.search`, as `overlay search` runs it: the time a question names applies) and
the full ask's candidates (`overlay ask`'s selection, in the order of its score). Each
ranking gets evidence recall@5, recall@10 and nDCG@10 at turn level and at session level (a
session ranks where its first turn does), overall and per question category, with the
median time per question: the question's embedding is timed on its own (once per question,
as an ask embeds it once) and each arm's time is what it adds.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from overlay.engine import Overlay
from overlay.errors import ConfigError
from overlay.evaluate.arms import scratch
from overlay.evaluate.ranking import read_json
from overlay.patterns import W, linear
from overlay.progress import Progress, quiet

ARMS = ("lexical", "dense", "hybrid", "ask")
POOL = 50  # what a list alone is asked for: enough to fill 10 turns after sections drop
SHOWN = 10  # what `overlay search` shows by default
TURN = linear(r"D(\d+):(\d+)")
_UNSAFE = linear(rf"[^{W}-]")
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop",
              5: "adversarial"}  # LoCoMo's categories, as its paper numbers them


def load(path: Path) -> list[dict[str, Any]]:
    """LoCoMo samples: a JSON list (or one object) of {conversation, qa}; errors name it."""
    data = read_json(path, "conversation")
    samples = data if isinstance(data, list) else [data]
    for i, s in enumerate(samples):
        if not (isinstance(s, dict) and isinstance(s.get("conversation"), dict)
                and isinstance(s.get("qa"), list)):
            raise ConfigError(f"{path}: item {i} needs a conversation and a qa list (LoCoMo)")
    return samples


def evidence(item: dict[str, Any]) -> list[str]:
    """The turns a question's evidence names ("D1:3"), however the item writes them."""
    return [f"D{a}:{b}" for e in item.get("evidence") or [] for a, b in TURN.findall(str(e))]


def scores(ranked: list[str], gold: set[str]) -> dict[str, float]:
    """recall@5, recall@10 and nDCG@10 of one ranking against its gold set."""
    dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(ranked[:10]) if r in gold)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(gold))))
    return {"recall@5": len(gold & set(ranked[:5])) / len(gold),
            "recall@10": len(gold & set(ranked[:10])) / len(gold),
            "ndcg@10": dcg / ideal if ideal else 0.0}


def _session(turn: str) -> str:
    return turn.split(":")[0]


def _sessions(ranked: list[str]) -> list[str]:
    return list(dict.fromkeys(_session(t) for t in ranked))


class _Arms:
    """The four rankings of turns for one conversation's overlay."""

    def __init__(self, ov: Overlay) -> None:
        self.ov = ov
        self.turn_of: dict[str, str] = {}
        for node in ov.store.iter_nodes():
            anchor = str(node.meta.get("anchor") or "")
            if node.meta.get("role") == "turn" and "/t:" in anchor:
                self.turn_of[node.id] = anchor.rsplit("/t:", 1)[1]

    def turns(self, node_ids: list[str]) -> list[str]:
        return list(dict.fromkeys(self.turn_of[i] for i in node_ids if i in self.turn_of))

    def rank(self, arm: str, question: str) -> list[str]:
        ov, retriever = self.ov, self.ov.retriever
        if arm == "lexical":
            return self.turns([i for i, _ in retriever.lexical(question, POOL)])
        if arm == "dense":
            return self.turns([i for i, _ in retriever.dense(question, POOL)])
        if arm == "hybrid":  # `overlay search`'s own ten, and its graph hop from them
            return self.turns([h.node_id for h in ov.search(question, SHOWN)])
        scope = ov.scope(question)  # the ask as `overlay ask` makes it, not recorded
        trace = ov.selector.ask(question, within=scope.within)
        ranked = sorted(trace.candidates, key=lambda c: -c.score)
        return self.turns([c.node_id for c in ranked if c.node_id])


def _conversation(ov: Overlay, sample: dict[str, Any], folder: Path,
                  rows: list[dict[str, Any]], tick: Callable[[], None]) -> tuple[float, int]:
    """Ingest one sample and rank every question with evidence; returns the ingest's
    seconds and how many turns it made."""
    name = _UNSAFE.sub("_", str(sample.get("sample_id") or "conversation"))
    file = folder / f"{name}.json"
    file.write_text(json.dumps({k: sample[k] for k in ("sample_id", "conversation")
                                if k in sample}, ensure_ascii=False), encoding="utf-8")
    t0 = time.perf_counter()
    ov.ingest([file])
    took = time.perf_counter() - t0
    arms = _Arms(ov)
    for item in sample["qa"]:
        gold = set(evidence(item))
        if not gold:
            continue
        row: dict[str, Any] = {"category": item.get("category"), "sample": name}
        t = time.perf_counter()
        ov.retriever.vector(str(item["question"]))  # embedded once; every arm reuses it
        row["embed_ms"] = 1000 * (time.perf_counter() - t)
        for arm in ARMS:
            t = time.perf_counter()
            ranked = arms.rank(arm, str(item["question"]))
            row[arm] = {"ms": 1000 * (time.perf_counter() - t),
                        "turn": scores(ranked, gold),
                        "session": scores(_sessions(ranked), {_session(g) for g in gold})}
        rows.append(row)
        tick()
    return took, len(arms.turn_of)


def evaluate(overlay: Overlay, samples: list[dict[str, Any]],
             progress: Progress | None = None) -> dict[str, Any]:
    """Run the benchmark on `samples`, each in an empty scratch overlay with `overlay`'s
    models (the user's store is never touched)."""
    tick = progress or quiet
    total = sum(1 for s in samples for q in s["qa"] if evidence(q))
    rows: list[dict[str, Any]] = []
    ingest_s, turns = 0.0, 0
    with tempfile.TemporaryDirectory(prefix="overlay-memory-") as tmp:
        for sample in samples:
            with scratch(overlay, empty=True) as ov:
                took, made = _conversation(ov, sample, Path(tmp), rows,
                                           lambda: tick("ask", len(rows), total))
            ingest_s, turns = ingest_s + took, turns + made
    if not rows:
        raise ConfigError("no question has evidence turns: nothing to measure")
    by_category = {CATEGORIES.get(c, str(c)): _summary([r for r in rows if r["category"] == c])
                   for c in sorted({r["category"] for r in rows}, key=str)}
    return {"conversations": len(samples), "turns": turns, "questions": len(rows),
            "embedder": overlay.settings.retrieve.embedder if overlay.embedder is None
            else overlay.embedder.name,
            "ingest_s_per_1000_turns": round(1000 * ingest_s / max(turns, 1), 1),
            "all": _summary(rows), "by_category": by_category}


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"questions": len(rows)}
    for arm in ARMS:
        out[arm] = {level: {m: round(statistics.fmean(r[arm][level][m] for r in rows), 3)
                            for m in ("recall@5", "recall@10", "ndcg@10")}
                    for level in ("turn", "session")}
        out[arm]["p50_ms"] = round(statistics.median(r[arm]["ms"] for r in rows), 1)
    out["embed_p50_ms"] = round(statistics.median(r["embed_ms"] for r in rows), 1)
    return out
