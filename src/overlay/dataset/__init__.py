"""The dataset architect: passport spec → items → design-rule checks → export.

`spec` is the schema, `build` compiles it into items, `checks` runs the design rules, `export`
writes JSONL, a Hugging Face DatasetDict and a dataset card, `scaffold` writes a spec from the
knowledge layer. The two entry points below are what the CLI (and any other face) calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from overlay.config import DatasetConfig
from overlay.dataset.checks import Report, TokenCounter, run_checks
from overlay.dataset.export import SPEC, read_built, require_built, write_dataset
from overlay.dataset.items import Built, build_parts, check_out_dir, finish, generate, uses_lm
from overlay.dataset.spec import Spec, json_schema, load_spec
from overlay.dataset.tokens import load_counter
from overlay.lm.base import LM
from overlay.progress import Progress, quiet

__all__ = [
    "BuildResult",
    "Report",
    "Spec",
    "build",
    "check",
    "json_schema",
    "load_spec",
    "uses_lm",
]


@dataclass
class BuildResult:
    """What `build` wrote: the items, the check report and every file's sha256."""

    out: Path
    built: Built
    report: Report
    hashes: dict[str, str]


def build(
    spec_path: Path,
    out: Path,
    *,
    seed: int = 0,
    lm: LM | None = None,
    tokens: TokenCounter | bool | None = None,
    progress: Progress | None = None,
    limits: DatasetConfig | None = None,
) -> BuildResult:
    """Compile the spec at `spec_path` into `out` (resuming an interrupted build there);
    `tokens=True` counts item lengths with the tokenizer of the spec's base model."""
    spec = load_spec(spec_path, limits)
    check_out_dir(out, spec_path)
    built = build_parts(spec, out, seed, lm, progress)
    counter = load_counter(spec.passport.base_model) if tokens is True else tokens or None
    report = run_checks(spec, built, counter, progress or quiet)
    hashes = write_dataset(spec, built, report, out, seed)
    finish(out)
    return BuildResult(out, built, report, hashes)


def check(
    path: Path,
    *,
    seed: int = 0,
    tokens: TokenCounter | bool | None = None,
    progress: Progress = quiet,
    limits: DatasetConfig | None = None,
) -> Report:
    """Design rules over a spec (built in memory, templates only) or over a built folder.
    `tokens=True` counts item lengths with the tokenizer of the spec's base model."""
    progress("load", 0, 1)
    if path.is_dir():
        require_built(path)
        spec, built = load_spec(path / SPEC, limits), read_built(path)
        progress("load", 1, 1)
    else:
        spec = load_spec(path, limits)
        progress("load", 1, 1)
        built = generate(spec, seed, progress=progress)
    counter = load_counter(spec.passport.base_model) if tokens is True else tokens or None
    return run_checks(spec, built, counter, progress)
