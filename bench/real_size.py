"""Ingest at real size: time and peak memory at 1×, 4× and 16× of a base size, with growth.

Three inputs, each made here (seeded) and ingested by `Overlay.ingest` in a fresh process, so
the peak RSS read back (`os.wait4`) is that one ingest's:
- a ChatGPT `conversations.json`: at 16×, 4,992 conversations of 60 messages (299,520 turns,
  about 250 MB), one branch each, as ChatGPT writes them;
- a vault of Markdown notes with links and tags: 20,000 notes at 16×;
- one long note: 4,992 paragraphs of about 15 KB at 16× (74 MB), read under a raised
  `ingest.max_file_bytes` (the default skips a note over 5 MB with a warning).

The store is SQLite and the embedder the hashing one (`--embedder hashing`): what is measured
is reading, parsing, writing and indexing. Embedding time goes as the tokens embedded
(bench/embed.py measures it); the run asserts both, and that every turn went in.

Run: python bench/real_size.py [--base-conversations 312] [--kinds export,vault,note]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import save, vocabulary, zipf_sentence

SCALES = (1, 4, 16)
VOCAB = vocabulary(20_000)  # made-up words drawn with a Zipf law, as real text's are
MESSAGES = 60


def _text(rng: random.Random, words: int) -> str:
    return zipf_sentence(rng, VOCAB, words)


def export(path: Path, conversations: int, seed: int = 1) -> int:
    """A ChatGPT export of `conversations` × 60 messages, written a conversation at a time;
    returns the number of messages."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for c in range(conversations):
            mapping: dict[str, Any] = {}
            parent = None
            for m in range(MESSAGES):
                mid = f"c{c}-m{m}"
                mapping[mid] = {"id": mid, "parent": parent, "children": [], "message": {
                    "id": mid, "author": {"role": "user" if m % 2 == 0 else "assistant"},
                    "create_time": 1.7e9 + c * 3600 + m * 30,
                    "content": {"content_type": "text",
                                "parts": [_text(rng, rng.randint(30, 120))]}}}
                if parent is not None:
                    mapping[parent]["children"].append(mid)
                parent = mid
            conv = {"id": f"conv-{c}", "title": f"Bakery chat {c}",
                    "create_time": 1.7e9 + c * 3600, "current_node": parent, "mapping": mapping}
            out.write(("," if c else "") + json.dumps(conv, ensure_ascii=False))
        out.write("]")
    return conversations * MESSAGES


def vault(root: Path, notes: int, seed: int = 2) -> int:
    rng = random.Random(seed)
    root.mkdir(parents=True)
    for i in range(notes):
        body = "\n\n".join(f"{_text(rng, 60)} [[Note {rng.randrange(notes)}]] #bread"
                           for _ in range(4))
        (root / f"Note {i}.md").write_text(f"# Note {i}\n\n{body}\n", encoding="utf-8")
    return notes


def long_note(root: Path, paragraphs: int, seed: int = 3) -> int:
    rng = random.Random(seed)
    root.mkdir(parents=True)
    with (root / "Long.md").open("w", encoding="utf-8") as out:
        out.write("# A long note\n\n")
        for _ in range(paragraphs):
            out.write(_text(rng, 1800) + "\n\n")
    return paragraphs


def child(path: str, db: str, max_file_bytes: int) -> None:
    """One ingest, as a user's Python code runs it; its report and what it ran on."""
    from overlay import Overlay, Settings

    settings = Settings.make(db=Path(db), retrieve={"embedder": "hashing"},
                             ingest={"max_file_bytes": max_file_bytes})
    with Overlay(settings=settings) as ov:
        t0 = time.perf_counter()
        report = ov.ingest([Path(path)])
        seconds = time.perf_counter() - t0
        print(json.dumps({"seconds": seconds, "nodes": ov.stats()["nodes"],
                          "stages": {k: round(v, 2) for k, v in report.seconds.items()},
                          "turns": ov.store.db.execute(
                              "SELECT count(*) FROM nodes WHERE json_extract(meta, '$.speaker')"
                              " IS NOT NULL").fetchone()[0],
                          "warnings": report.warnings[:5], "embedded": report.embedded,
                          "embedder": ov.embedder.name if ov.embedder else None,
                          "store": type(ov.store).__name__}))


def measure(kind: str, scale: int, base: int, tmp: Path) -> dict[str, Any]:
    work = tmp / f"{kind}-{scale}"
    work.mkdir()
    size = base * scale
    if kind == "export":
        target = work / "export" / "conversations.json"
        target.parent.mkdir()
        units = export(target, size)
    elif kind == "vault":
        target = work / "vault"
        units = vault(target, size)
    else:
        target = work / "note"
        units = long_note(target, size)
    nbytes = sum(f.stat().st_size for f in ([target] if target.is_file() else target.rglob("*")))
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(target),
                             str(work / "o.db"), str(2 * nbytes)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    assert status == 0, f"{kind} ×{scale} failed"
    done = json.loads(out.strip().splitlines()[-1])
    assert done["embedder"] == "hashing-256" and done["store"] == "SQLiteStore", done
    if kind == "export":
        assert done["turns"] == units, f"{done['turns']} of {units} turns ingested"
    row = {"kind": kind, "scale": scale, "units": units, "mb": round(nbytes / 1e6, 1),
           "seconds": round(done["seconds"], 2), "peak_rss_mb": round(usage.ru_maxrss / 1024),
           "nodes": done["nodes"], "turns": done["turns"], "stages": done["stages"],
           "warnings": done["warnings"]}
    print(json.dumps(row), flush=True)
    return row


def growth(rows: list[dict[str, Any]]) -> dict[str, float]:
    by = {r["scale"]: r for r in rows}
    return {f"time_{b}x_over_{a}x": round(by[b]["seconds"] / max(by[a]["seconds"], 0.01), 2)
            for a, b in ((1, 4), (4, 16))} | {
        f"rss_{b}x_over_{a}x": round(by[b]["peak_rss_mb"] / by[a]["peak_rss_mb"], 2)
        for a, b in ((1, 4), (4, 16))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=3)
    ap.add_argument("--base-conversations", type=int, default=312)  # ×16 = 4,992 ≈ 5,000
    ap.add_argument("--base-notes", type=int, default=1250)  # ×16 = 20,000
    ap.add_argument("--base-paragraphs", type=int, default=312)  # ×16 ≈ 50 MB
    ap.add_argument("--kinds", default="export,vault,note")
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    bases = {"export": args.base_conversations, "vault": args.base_notes,
             "note": args.base_paragraphs}
    results: dict[str, Any] = {"store": "SQLiteStore", "embedder": "hashing-256",
                               "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="real-size-") as tmp:
        for kind in args.kinds.split(","):
            rows = [measure(kind, s, bases[kind], Path(tmp)) for s in SCALES]
            for s in SCALES:  # each scale's data is deleted once measured
                subprocess.run(["rm", "-rf", str(Path(tmp) / f"{kind}-{s}")], check=True)
            results[kind] = {"runs": rows, "growth": growth(rows)}
    save("real_size", results)


if __name__ == "__main__":
    main()
