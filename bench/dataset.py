"""Dataset architect at scale: build and check time for synthetic passports of 100 / 1,000 /
10,000 nodes (templated generation), time per rule, and the growth ratio 1k → 10k (10× is
linear). The token-budget rule runs with the default model's real tokenizer.

Run: python bench/dataset.py [--sizes 100 1000 10000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import save, vocabulary, zipf_sentence
from overlay.dataset import checks, export, items
from overlay.dataset.spec import load_spec
from overlay.dataset.tokens import load_counter

PER_MODULE = 100


def synthetic_spec(n: int, seed: int = 0) -> dict:
    """n nodes in modules of 100: 2–3 statements each (one a claim), two anchors, a `precedes`
    chain inside each module (acyclic), and one self-test per node."""
    rng = random.Random(seed)
    vocab = vocabulary(5000, seed)
    modules = []
    for m in range(max(1, n // PER_MODULE)):
        nodes = []
        size = min(PER_MODULE, n - m * PER_MODULE)
        for i in range(size):
            name = f"{vocab[(m * PER_MODULE + i) % len(vocab)]} {m}-{i}"
            statements: list = [
                f"{name.capitalize()} is {zipf_sentence(rng, vocab, rng.randint(8, 16))}."
                for _ in range(rng.randint(2, 3))
            ]
            statements[-1] = {
                "text": statements[-1],
                "subject": name,
                "relation": "value",
                "value": str(rng.randint(1, 10**6)),
            }
            node = {
                "id": f"n{i}",
                "title": name,
                "statements": statements,
                "anchors": [f"n{rng.randrange(size)}" for _ in range(2) if size > 1],
                "self_tests": [
                    {"question": f"Quiz: which value does {name} hold?", "answer": "42"}
                ],
            }
            node["anchors"] = [a for a in node["anchors"] if a != f"n{i}"]
            if i + 1 < size:
                node["transitions"] = [{"to": f"n{i + 1}", "relation": "precedes"}]
            nodes.append(node)
        modules.append({"id": f"m{m}", "nodes": nodes})
    return {"name": f"synthetic-{n}", "modules": modules, "checks": {"min_items": 3}}


def run(n: int, counter: checks.TokenCounter, workdir: Path) -> dict:
    path = workdir / f"spec-{n}.yaml"
    path.write_text(yaml.safe_dump(synthetic_spec(n), sort_keys=False), encoding="utf-8")
    t0 = time.perf_counter()
    spec = load_spec(path)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    built = items.build_parts(spec, workdir / f"out-{n}", seed=0)
    t_generate = time.perf_counter() - t0
    rules: dict[str, float] = {}
    found = []
    for rule in checks.SPEC_RULES:
        t0 = time.perf_counter()
        found += list(rule(spec, built))
        rules[rule.__name__] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    found += list(checks.token_budget(spec, built, counter))
    rules["token_budget"] = round(time.perf_counter() - t0, 3)
    report = checks.Report(found)
    t0 = time.perf_counter()
    export.write_dataset(spec, built, report, workdir / f"out-{n}", 0)
    items.finish(workdir / f"out-{n}")
    t_export = time.perf_counter() - t0
    check_s = sum(rules.values())
    return {
        "nodes": n,
        "items": len(built.items),
        "self_tests": len(built.tests),
        "findings": len(found),
        "errors": len(report.errors),
        "load_s": round(t_load, 3),
        "generate_s": round(t_generate, 3),
        "export_s": round(t_export, 3),
        "build_s": round(t_load + t_generate + t_export, 3),
        "check_s": round(check_s, 3),
        "rules_s": rules,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    args = parser.parse_args()
    counter = load_counter("smollm2")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [run(n, counter, Path(tmp)) for n in args.sizes]
    by = {r["nodes"]: r for r in runs}
    growth = {}
    if 1000 in by and 10000 in by:
        growth = {
            "build_1k_to_10k": round(by[10000]["build_s"] / by[1000]["build_s"], 2),
            "check_1k_to_10k": round(by[10000]["check_s"] / by[1000]["check_s"], 2),
            "items_1k_to_10k": round(by[10000]["items"] / by[1000]["items"], 2),
        }
    save("dataset", {"runs": runs, "growth": growth})


if __name__ == "__main__":
    main()
