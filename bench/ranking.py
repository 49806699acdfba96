"""The selector against its own retrieval (`overlay eval ranking`), with the default LM and
the default embedder, on the project's labelled questions: examples/questions/vault.json (103
questions over examples/vault), examples/questions/docs.json (56 over this repository's docs/
as a vault) and examples/questions/vault-ru.json (65 Russian questions over examples/vault-ru).
nDCG@10 and top-1 of retrieval alone, the LM alone and the selector, out of the box and after
one round of verdicts judged from the gold notes.

Run: python bench/ranking.py [SET ...]
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, save
from overlay import Overlay
from overlay.evaluate.ranking import evaluate, load

ROOT = Path(__file__).resolve().parents[1]
SETS = {"vault": ROOT / "examples" / "vault", "docs": ROOT / "docs",
        "vault-ru": ROOT / "examples" / "vault-ru"}


def main() -> None:
    result: dict[str, object] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-ranking-"))
    try:
        only = sys.argv[1:] or list(SETS)  # e.g. `python bench/ranking.py vault-ru`
        for name, folder in ((n, SETS[n]) for n in only):
            t0 = time.perf_counter()
            vault = tmp / name
            shutil.copytree(folder, vault)  # ingest marks a vault: never in the repository
            with Overlay(tmp / f"{name}.db") as overlay:
                overlay.ingest([vault])
                found = evaluate(overlay, load(ROOT / "examples" / "questions" / f"{name}.json"))
            found["seconds"] = round(time.perf_counter() - t0, 1)
            result[name] = found
            print(name, found["out_of_the_box"], found["after_feedback"], flush=True)
        if sys.argv[1:] and (RESULTS / "ranking.json").exists():  # some sets: keep the others
            kept = json.loads((RESULTS / "ranking.json").read_text())
            result = {**{k: v for k, v in kept.items() if k in SETS}, **result}
        save("ranking", result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
