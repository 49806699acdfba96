"""Ingest time on synthetic vaults of 1k and 10k notes, split into parsing, embedding and
indexing, against the raw embedding time of the same texts measured in the same run.
Then one note is changed and the vault re-ingested.

Notes are built from the example vault's own English words (Zipf-distributed), with
frontmatter, headings, paragraphs, lists, callouts and wikilinks between the notes.

Run: python bench/ingest.py [--sizes 1000,10000]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import DATA, save
from overlay import Overlay, Settings
from overlay.retrieve.dense import embed_text
from overlay.retrieve.embed import SentenceTransformerEmbedder, packaged_minilm

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vault"


def english_words() -> list[str]:
    text = " ".join(p.read_text() for p in EXAMPLE.rglob("*.md"))
    return sorted({w.lower() for w in re.findall(r"[A-Za-z]{3,}", text)})


def sentence(rng: random.Random, words: list[str], n: int) -> str:
    picks = [
        words[min(len(words) - 1, int(rng.paretovariate(1.2)) - 1 + rng.randrange(40))]
        for _ in range(n)
    ]
    return " ".join(picks).capitalize() + "."


def make_vault(root: Path, n: int, seed: int = 1) -> None:
    """Write n notes; every fifth paragraph links to two other notes."""
    rng = random.Random(seed)
    words = english_words()
    rng.shuffle(words)
    titles = [f"Note {i:05d} {words[i % len(words)]}" for i in range(n)]
    for i, title in enumerate(titles):
        folder = root / f"topic-{i % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        parts = [f"---\ntags: [t{i % 50}, synthetic]\naliases: [alias {i}]\n---\n# {title}\n"]
        for h in range(rng.randint(2, 3)):
            parts.append(f"## Part {h + 1} {words[rng.randrange(len(words))]}\n")
            for p in range(rng.randint(1, 2)):
                text = " ".join(sentence(rng, words, rng.randint(8, 16)) for _ in range(2))
                if p == 0:
                    a, b = rng.sample(titles, 2)
                    text += f" See [[{a}]] and [[{b}|this]]."
                parts.append(text + "\n")
        if i % 4 == 0:
            parts.append("> [!tip] Remember\n> " + sentence(rng, words, 10) + "\n")
        (folder / f"{title}.md").write_text("\n".join(parts))


def run(n: int, embedder: SentenceTransformerEmbedder) -> dict[str, object]:
    root = DATA / f"vault-{n}" / "vault"
    shutil.rmtree(root.parent, ignore_errors=True)
    make_vault(root, n)
    db = root.parent / "o.db"
    settings = Settings.make(db=db, retrieve={"embedder": "minilm"})
    with Overlay(settings=settings, embedder=embedder) as ov:
        t0 = time.perf_counter()
        report = ov.ingest([root])
        total = time.perf_counter() - t0
        texts = [embed_text(node.title, node.text) for node in ov.store.iter_nodes()]
        t1 = time.perf_counter()
        embedder.embed(texts, batch_size=settings.retrieve.embed_batch)
        raw = time.perf_counter() - t1

        victim = sorted(root.rglob("*.md"))[n // 2]
        victim.write_text(victim.read_text() + "\nOne more paragraph about the starter.\n")
        t2 = time.perf_counter()
        again = ov.ingest([root])
        incremental = time.perf_counter() - t2
        nodes = ov.stats()["nodes"]
    shutil.rmtree(root.parent, ignore_errors=True)
    assert again.updated == 1 and again.unchanged == n - 1
    return {
        "notes": n,
        "nodes": nodes,
        "links": report.links,
        "total_s": round(total, 2),
        "parse_s": round(report.seconds["parse"], 2),
        "embed_s": round(report.seconds["embed"], 2),
        "index_s": round(report.seconds["index"], 2),
        "raw_embedding_s": round(raw, 2),
        "total_over_raw_embedding": round(total / raw, 3),
        "incremental_one_file_s": round(incremental, 3),
        "incremental_split_s": {k: round(v, 3) for k, v in again.seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    embedder = SentenceTransformerEmbedder(packaged_minilm(), name="all-MiniLM-L6-v2")
    embedder.embed(["warm up the model"] * 64)
    runs = [run(int(s), embedder) for s in args.sizes.split(",")]
    save("ingest", {"embedder": embedder.name, "runs": runs})


if __name__ == "__main__":
    main()
