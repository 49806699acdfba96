"""Write a built dataset: JSONL in chat `messages` form, a Hugging Face DatasetDict on disk
(train / selftest splits), a copy of the spec, a manifest, and a dataset card.

Nothing here carries a clock or a random id, so the same build writes the same bytes; the card
lists the sha256 of the spec and of every file, which the passport (issue 7) builds on.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from overlay.dataset.checks import RULES, Report
from overlay.dataset.items import VERSION, Built, HeldOut, Item
from overlay.dataset.spec import Spec
from overlay.errors import ConfigError
from overlay.files import sha256_file

TRAIN, SELFTEST, PRETRAIN = "train.jsonl", "selftest.jsonl", "pretrain.jsonl"
SPEC, MANIFEST, CARD, HF = "spec.yaml", "manifest.json", "README.md", "hf"


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _hf(out: Path, chat: list[Item], texts: list[Item], tests: list[HeldOut]) -> None:
    import datasets

    datasets.disable_progress_bars()
    splits = {
        "train": datasets.Dataset.from_list([i.to_json() for i in chat]),
        "selftest": datasets.Dataset.from_list([t.to_json() for t in tests]),
    }
    if texts:
        splits["pretrain"] = datasets.Dataset.from_list([i.to_json() for i in texts])
    tmp = out / (HF + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    datasets.DatasetDict(splits).save_to_disk(str(tmp))
    shutil.rmtree(out / HF, ignore_errors=True)
    tmp.rename(out / HF)


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def _card(spec: Spec, built: Built, report: Report, hashes: dict[str, str], seed: int) -> str:
    p = spec.passport
    chat = [i for i in built.items if i.text is None]
    files = [{"split": "train", "path": TRAIN}, {"split": "selftest", "path": SELFTEST}]
    if any(i.text is not None for i in built.items):
        files.append({"split": "pretrain", "path": PRETRAIN})
    meta: dict[str, Any] = {
        "pretty_name": p.name,
        "language": [p.language],
        "task_categories": ["text-generation"],
        "tags": ["overlay", "architectural-passport", "synthetic"],
        "size_categories": [_size_category(len(chat))],
        "configs": [{"config_name": "default", "data_files": files}],
    }
    if p.license:
        meta["license"] = p.license
    per_module = Counter(i.module for i in chat)
    tests = Counter(t.module for t in built.tests)
    kinds = Counter(i.kind for i in built.items)
    lines = [
        "---",
        yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        f"# {p.name} {p.version}",
        "",
        p.description or "Built by `overlay dataset build` from an architectural passport.",
        "",
        f"Built from `{spec.path.name}` with seed {seed} (generator version {VERSION}); "
        f"base model for the length budget: `{p.base_model}`; formats: {', '.join(p.formats)}.",
        "",
        "## Modules",
        "",
        "| module | nodes | training items | self-tests |",
        "|---|---:|---:|---:|",
    ]
    for m in p.modules:
        lines.append(f"| {m.id} | {len(m.nodes)} | {per_module[m.id]} | {tests[m.id]} |")
    lines += ["", "## Items by kind", "", "| kind | items |", "|---|---:|"]
    lines += [f"| {k} | {n} |" for k, n in sorted(kinds.items())]
    lines += ["", "## Design-rule checks", ""]
    verdict = "pass" if report.ok else "fail"
    lines.append(
        f"Result: **{verdict}**, {len(report.errors)} errors and "
        f"{len(report.findings) - len(report.errors)} warnings."
    )
    if report.findings:
        lines += ["", "| rule | severity | findings |", "|---|---|---:|"]
        lines += [f"| {r} | {RULES[r][0]} | {n} |" for r, n in report.by_rule().items()]
    lines += ["", "## Files", "", "| file | sha256 |", "|---|---|"]
    lines += [f"| {name} | `{digest}` |" for name, digest in hashes.items()]
    return "\n".join(lines) + "\n"


def write_dataset(spec: Spec, built: Built, report: Report, out: Path, seed: int) -> dict[str, str]:
    """Write every output file into `out`; returns {relative path: sha256}."""
    out.mkdir(parents=True, exist_ok=True)
    chat = [i for i in built.items if i.text is None]
    texts = [i for i in built.items if i.text is not None]
    shutil.copyfile(spec.path, out / SPEC)
    _jsonl(out / TRAIN, [i.to_json() for i in chat])
    _jsonl(out / SELFTEST, [t.to_json() for t in built.tests])
    if texts:
        _jsonl(out / PRETRAIN, [i.to_json() for i in texts])
    else:
        (out / PRETRAIN).unlink(missing_ok=True)
    _hf(out, chat, texts, built.tests)
    manifest = {
        "name": spec.passport.name,
        "version": spec.passport.version,
        "spec": spec.path.name,
        "spec_sha256": spec.sha256,
        "seed": seed,
        "generator": VERSION,
        "counts": {"train": len(chat), "selftest": len(built.tests), "pretrain": len(texts)},
        "stats": dict(sorted(built.stats.items())),
        "check": report.to_json(),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    names = [SPEC, TRAIN, SELFTEST, *([PRETRAIN] if texts else []), MANIFEST]
    hashes = {name: sha256_file(out / name) for name in names}
    for path in sorted((out / HF).rglob("*")):
        if path.is_file():
            hashes[path.relative_to(out).as_posix()] = sha256_file(path)
    (out / CARD).write_text(_card(spec, built, report, hashes, seed), encoding="utf-8")
    return hashes


def require_built(out: Path) -> dict[str, Any]:
    """The manifest of a folder `overlay dataset build` wrote; a clear error for any other."""
    if not all((out / name).exists() for name in (SPEC, MANIFEST, TRAIN, SELFTEST)):
        raise ConfigError(f"{out} is not a built dataset (`overlay dataset build` makes one)")
    manifest: dict[str, Any] = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    return manifest


def read_built(out: Path) -> Built:
    """Items and self-tests back from a built folder (for `overlay dataset check DIR`)."""
    items = [Item.from_json(r) for r in read_jsonl(out / TRAIN)]
    if (out / PRETRAIN).exists():
        items += [Item.from_json(r) for r in read_jsonl(out / PRETRAIN)]
    tests = [HeldOut.from_json(r) for r in read_jsonl(out / SELFTEST)]
    stats = Counter(json.loads((out / MANIFEST).read_text()).get("stats", {}))
    return Built(items, tests, stats)
