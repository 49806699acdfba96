"""The lab (`overlay eval compare`) at full size: examples/passport.yaml's self-tests and 200
CounterFact records, each delivered four ways (bare, outside = the overlay over examples/vault,
inside = LoRA, both), with time to learn per fact. Copies the two plots into docs/img/.

Run: python bench/compare.py [--records 200] [--epochs 2] [--edit-epochs 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import save
from overlay import Overlay
from overlay.config import LMConfig, Settings
from overlay.dataset import build
from overlay.evaluate.compare import compare
from overlay.plugins import load_lm, load_plugins
from overlay.train import LoraSettings

ROOT = Path(__file__).resolve().parents[1]
EDITS = ROOT.parent / "shared" / "benchmarks" / "counterfact-1k.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--edit-epochs", type=float, default=3.0)
    parser.add_argument("--edits", type=Path, default=EDITS)
    args = parser.parse_args()
    plugins = load_plugins()
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        work = Path(tmp)
        build(ROOT / "examples" / "passport.yaml", work / "ds")
        t0 = time.perf_counter()
        with Overlay(settings=Settings.make(db=work / "o.db")) as ov:
            ov.ingest([ROOT / "examples" / "vault"])
            ingest_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            result = compare(work / "ds", args.edits, ov,
                             lambda a: load_lm(LMConfig(adapter=a), plugins), work / "lab",
                             LoraSettings(epochs=args.epochs), args.records,
                             edit_epochs=args.edit_epochs)
            total_s = time.perf_counter() - t0
        img = ROOT / "docs" / "img"
        img.mkdir(parents=True, exist_ok=True)
        for name in ("selftests", "edits"):
            shutil.copyfile(work / "lab" / f"{name}.png", img / f"compare-{name}.png")
    for key in ("dataset", "edits", "adapter", "edits_adapter"):
        result.pop(key)
    save("compare", {
        "dataset": "examples/passport.yaml",
        "overlay": "examples/vault",
        "edits_file": args.edits.name,
        "epochs": args.epochs,
        "edit_epochs": args.edit_epochs,
        "overlay_ingest_s": round(ingest_s, 1),
        "total_s": round(total_s, 1),
        **result,
    })


if __name__ == "__main__":
    main()
