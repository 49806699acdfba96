"""Russian and cross-lingual retrieval on XQuAD (ru/en parallel paragraphs), as a user runs it.

Each paragraph becomes a note (a file named by its id) in an overlay of its language, ingested
with `Overlay.ingest`; each question is searched with `Overlay.search` (hybrid) and with the
two lists the hybrid fuses (`Retriever.lexical`, `Retriever.dense`), in all four directions:
ru←ru, en←en, and questions in one language over the notes of the other. Measures are at note
level (a note's first hit counts): hit@1, R@5, R@10, MRR@10 and query p50, for the default
embedder and MiniLM side by side in one run, with ingest seconds per 1,000 notes.

Run: python bench/multilingual.py [--data ../shared/benchmarks/xquad-ru-en-dev.json]
       [--embedders e5,minilm] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import percentiles, save
from overlay import Overlay, Settings

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "xquad-ru-en-dev.json"
LANGS = ("ru", "en")


def measures(ranked: list[list[str]], gold: list[str]) -> dict[str, float]:
    n = len(gold)

    def recall(k: int) -> float:
        return round(sum(g in r[:k] for r, g in zip(ranked, gold, strict=True)) / n, 3)

    mrr = sum(1 / (r.index(g) + 1) for r, g in zip(ranked, gold, strict=True) if g in r[:10])
    return {"hit@1": recall(1), "R@5": recall(5), "R@10": recall(10), "MRR@10": round(mrr / n, 3)}


def notes_of(overlay: Overlay, node_ids: list[str]) -> list[str]:
    """Node ids → the notes (paragraph ids) they belong to, each note once, in order."""
    nodes = overlay.store.get_nodes(node_ids)
    out: list[str] = []
    for i in node_ids:
        if i in nodes and nodes[i].source_path:
            note = Path(nodes[i].source_path).stem
            if note not in out:
                out.append(note)
    return out


def run_direction(overlay: Overlay, questions: list[dict[str, Any]]) -> dict[str, Any]:
    retriever = overlay.retriever
    modes: dict[str, Callable[[str], list[str]]] = {
        "lexical": lambda q: notes_of(overlay, [i for i, _ in retriever.lexical(q, 50)]),
        "dense": lambda q: notes_of(overlay, [i for i, _ in retriever.dense(q, 50)]),
        "hybrid": lambda q: notes_of(overlay, [h.node_id for h in overlay.search(q, 20)]),
    }
    gold = [q["paragraph"] for q in questions]
    result: dict[str, Any] = {"questions": len(questions)}
    for mode, search in modes.items():
        ranked, took = [], []
        for q in questions:
            t0 = time.perf_counter()
            ranked.append(search(q["question"]))
            took.append(time.perf_counter() - t0)
        result[mode] = {**measures(ranked, gold), "query_p50_ms": percentiles(took)["p50_ms"]}
    return result


def run_embedder(embedder: str, data: dict[str, Any], limit: int | None,
                 work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"directions": {}}
    ingest_seconds, notes = 0.0, 0
    for notes_lang in LANGS:
        vault = work / f"{embedder}-{notes_lang}" / "xquad"
        vault.mkdir(parents=True)
        paragraphs = [p for p in data["paragraphs"] if p["lang"] == notes_lang]
        for p in paragraphs:
            (vault / f"{p['id']}.md").write_text(p["text"] + "\n", encoding="utf-8")
        settings = Settings.make(db=vault.parent / "o.db", retrieve={"embedder": embedder})
        with Overlay(settings=settings) as overlay:
            _ = overlay.embedder.dim if overlay.embedder else 0  # load before timing ingest
            t0 = time.perf_counter()
            overlay.ingest([vault])
            ingest_seconds += time.perf_counter() - t0
            notes += len(paragraphs)
            out["model"] = overlay.embedder.name if overlay.embedder else None
            for q_lang in LANGS:
                questions = [q for q in data["questions"] if q["lang"] == q_lang][:limit]
                key = f"{notes_lang}<-{q_lang}"
                out["directions"][key] = run_direction(overlay, questions)
                best = max(out["directions"][key][m]["hit@1"] for m in ("lexical", "dense"))
                print(f"{embedder} {key}: " + ", ".join(
                    f"{m} {out['directions'][key][m]['hit@1']}" for m in
                    ("lexical", "dense", "hybrid")) + f" (best single {best})", flush=True)
    out["ingest_s_per_1000_notes"] = round(1000 * ingest_seconds / notes, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--embedders", default="e5,minilm")
    ap.add_argument("--limit", type=int, default=None, help="questions per language")
    args = ap.parse_args()
    data = json.loads(args.data.read_text(encoding="utf-8"))
    work = Path(tempfile.mkdtemp(prefix="overlay-multilingual-"))
    try:
        results = {e: run_embedder(e, data, args.limit, work) for e in args.embedders.split(",")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    never_below = {
        e: all(d["hybrid"]["hit@1"] >= max(d["lexical"]["hit@1"], d["dense"]["hit@1"])
               for d in r["directions"].values()) for e, r in results.items()}
    save("multilingual", {
        "data": args.data.name,
        "paragraphs_per_language": len(data["paragraphs"]) // 2,
        "measure": "note level; a note's first hit counts; questions per direction as listed",
        "embedders": results,
        "hybrid_never_below_best_single_hit@1": never_below,
    })


if __name__ == "__main__":
    main()
