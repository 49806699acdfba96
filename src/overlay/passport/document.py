"""Build a passport: what a dataset (and the adapter or overlay made from it) carries, where
each meaning is embedded, the hashes that pin every file, self-test results per meaning, and
the signature probes that let anyone test a model for the imprint later.

Written as `passport.json` (what `verify` reads), `passport.md` and `passport.html` (what a
person reads).
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from overlay.dataset.export import (
    MANIFEST,
    PRETRAIN,
    SELFTEST,
    SPEC,
    TRAIN,
    read_jsonl,
    require_built,
)
from overlay.dataset.spec import load_spec
from overlay.errors import ConfigError
from overlay.files import sha256_file, write_atomic
from overlay.passport.probes import gains, make_probes, probe_json, sign_test

FORMAT = 1
DATASET_FILES = (SPEC, TRAIN, SELFTEST, PRETRAIN, MANIFEST)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "overlay_adapter.json")


def pinned(dataset: Path, adapter: Path | None) -> dict[str, dict[str, str]]:
    """sha256 of every file the passport vouches for, by role and name."""
    files: dict[str, dict[str, str]] = {"dataset": {}, "adapter": {}}
    for name in DATASET_FILES:
        if (dataset / name).exists():
            files["dataset"][name] = sha256_file(dataset / name)
    for path in sorted((dataset / "hf").rglob("*")) if (dataset / "hf").is_dir() else []:
        if path.is_file():
            files["dataset"][path.relative_to(dataset).as_posix()] = sha256_file(path)
    if adapter is not None:
        for name in ADAPTER_FILES:
            if not (adapter / name).exists():
                raise ConfigError(f"{adapter} is not an overlay adapter (no {name})")
            files["adapter"][name] = sha256_file(adapter / name)
    return files


def _tree(dataset: Path, overlay_nodes: dict[str, list[str]]) -> list[dict[str, Any]]:
    spec = load_spec(dataset / SPEC)
    items: dict[str, list[str]] = defaultdict(list)
    for row in read_jsonl(dataset / TRAIN):
        items[f"{row['module']}.{row['node']}"].append(row["id"])
    tests: dict[str, list[str]] = defaultdict(list)
    for row in read_jsonl(dataset / SELFTEST):
        tests[f"{row['module']}.{row['node']}"].append(row["id"])
    tree = []
    for module in spec.passport.modules:
        nodes = []
        for node in module.nodes:
            key = f"{module.id}.{node.id}"
            source = (node.source or "").rsplit(":", 1)[0]
            nodes.append({
                "key": key,
                "title": node.name,
                "statements": [s.text for s in node.statements],
                "source": node.source,
                "items": items.get(key, []),
                "self_tests": tests.get(key, []),
                "overlay_nodes": overlay_nodes.get(source, []),
            })
        tree.append({"module": module.id, "title": module.title or module.id, "nodes": nodes})
    return tree


def build(
    dataset: Path,
    out: Path,
    *,
    base: Any,
    adapted: Any | None = None,
    adapter: Path | None = None,
    overlay_sources: dict[str, dict[str, Any]] | None = None,
    selftests: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Write the passport for `dataset` (and `adapter`, measured with `adapted`) into `out`;
    `overlay_sources` (`Overlay.sources()`) pins the notes an overlay holds."""
    manifest = require_built(dataset)
    spec = load_spec(dataset / SPEC)
    found = overlay_sources or {}
    sources = {path: str(v["hash"]) for path, v in found.items()}
    overlay_nodes = {path: list(v["nodes"]) for path, v in found.items() if v["nodes"]}
    record = json.loads((adapter / "overlay_adapter.json").read_text()) if adapter else None
    probes = make_probes(spec, seed, module=record["module"] if record else None)
    passport: dict[str, Any] = {
        "passport": FORMAT,
        "name": manifest.get("name"),
        "version": manifest.get("version"),
        "base_model": spec.passport.base_model,
        "paths": {"dataset": str(dataset.resolve()),
                  "adapter": str(adapter.resolve()) if adapter else None},
        "files": pinned(dataset, adapter),
        "sources": dict(sorted(sources.items())),
        "adapter": record,
        "tree": _tree(dataset, overlay_nodes),
        "selftests": selftests,
        "probes": probe_json(probes),
        "signature": None,
    }
    if adapted is not None and probes:
        found = sign_test(gains(adapted, base, probes))
        passport["signature"] = {"model": adapted.name, "base": base.name, **found}
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "passport.json", json.dumps(passport, indent=2, ensure_ascii=False) + "\n")
    write_atomic(out / "passport.md", markdown(passport))
    write_atomic(out / "passport.html", page(passport))
    return passport


def markdown(p: dict[str, Any]) -> str:
    lines = [f"# Passport: {p['name']} {p['version']}", "",
             f"Base model: `{p['base_model']}`. Dataset: `{p['paths']['dataset']}`."]
    if p["adapter"]:
        a = p["adapter"]
        lines.append(f"Adapter: `{p['paths']['adapter']}` ({a['steps']} steps on {a['items']} "
                     f"items, module {a['module'] or 'all'}, loss {a['last_loss']:.3f}).")
    if p["signature"]:
        s = p["signature"]
        lines.append(f"Signature: {s['positive']} of {s['n']} probes favour the imprint over "
                     f"the base model (sign test p = {s['p_value']:.2g}).")
    lines += ["", "## Tree of meanings", ""]
    for m in p["tree"]:
        lines.append(f"- **{m['title']}** (`{m['module']}`)")
        for n in m["nodes"]:
            where = f"{len(n['items'])} items, {len(n['self_tests'])} self-tests"
            if n["overlay_nodes"]:
                where += f", overlay {', '.join(x[:8] for x in n['overlay_nodes'])}"
            lines.append(f"  - {n['title']} (`{n['key']}`): {where}")
    if p["selftests"]:
        lines += ["", "## Self-tests", "", "| arm | match | choose |", "|---|---:|---:|"]
        lines += [f"| {arm} | {r['match']} | {r['choose']} |" for arm, r in p["selftests"].items()]
    lines += ["", "## Files", "", "| file | sha256 |", "|---|---|"]
    for role, files in p["files"].items():
        lines += [f"| {role}/{name} | `{digest}` |" for name, digest in files.items()]
    lines += ["", f"{len(p['probes'])} signature probes are in passport.json; "
              "`overlay passport verify` runs them."]
    return "\n".join(lines) + "\n"


def page(p: dict[str, Any]) -> str:
    """The Markdown's content as a standalone HTML page (no scripts, no external files)."""
    body: list[str] = []
    rows: list[str] = []

    def flush() -> None:
        if rows:
            body.append("<table>" + "".join(rows) + "</table>")
            rows.clear()

    for line in markdown(p).splitlines():
        text = html.escape(line)
        if line.startswith("|"):
            if not line.startswith("|---"):
                cells = "".join(f"<td>{c.strip()}</td>" for c in text.strip("|").split("|"))
                rows.append(f"<tr>{cells}</tr>")
            continue
        flush()
        if line.startswith("# "):
            body.append(f"<h1>{text[2:]}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{text[3:]}</h2>")
        elif line.strip():
            indent = " style='margin-left:1.5em'" if line.startswith("  -") else ""
            body.append(f"<p{indent}>{text.lstrip(' -')}</p>")
    flush()
    return ("<!doctype html><meta charset='utf-8'><title>Passport</title><style>"
            "body{font-family:system-ui;max-width:60em;margin:2em auto}"
            "td{padding:.2em .6em;border-bottom:1px solid #ddd;font-family:monospace}"
            "</style>\n" + "\n".join(body) + "\n")
