"""`overlay dataset`: the passport's JSON Schema, a spec scaffolded from the overlay, build,
design-rule checks."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from overlay.cli.app import DbOpt, JsonOpt, ModelOpt, app, emit, err, open_overlay, out, progress
from overlay.cli.options import given_options
from overlay.config import DatasetConfig
from overlay.errors import OverlayError

dataset_app = typer.Typer(
    help="Design a fine-tuning dataset as a passport: scaffold, build, check.",
    no_args_is_help=True,
)
app.add_typer(dataset_app, name="dataset")

# the spec limits of `DatasetConfig`, as options; a command receives the ones given as `limits`
limit_options = given_options(DatasetConfig, ["max_spec_bytes", "max_spec_nodes"], "limits")
TokensOpt = Annotated[
    bool,
    typer.Option(
        "--tokens/--no-tokens",
        help="Check item lengths with the base model's tokenizer (token-budget rule).",
    ),
]


def _show_report(report_json: dict[str, Any], limit: int = 40) -> None:
    findings = report_json["findings"]
    if findings:
        table = Table("rule", "severity", "where", "finding", show_lines=False)
        for f in findings[:limit]:
            colour = "red" if f["severity"] == "error" else "yellow"
            table.add_row(f["rule"], f"[{colour}]{f['severity']}[/]", f["where"], f["message"])
        out.print(table)
        if len(findings) > limit:
            out.print(f"… and {len(findings) - limit} more (--json lists all)")
    counted = report_json["counted"]
    verdict = "[green]clean[/]" if report_json["ok"] else "[red]fails[/]"
    out.print(
        f"{verdict}: {report_json['errors']} errors, {report_json['warnings']} warnings "
        f"over {json.dumps(counted)}"
    )


@dataset_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of passport.yaml (for editors and validators)."""
    from overlay.dataset import json_schema

    emit(json_schema())


@dataset_app.command("init")
def init(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of printing.")
    ] = None,
    from_overlay: Annotated[
        bool, typer.Option("--from-overlay", help="Notes of the overlay become nodes.")
    ] = False,
    goal: Annotated[
        str | None, typer.Option("--goal", help="Only notes serving this goal.")
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Only notes with this tag.")] = None,
    by: Annotated[
        Literal["folder", "tag"],
        typer.Option("--by", help="Modules per 'folder' or per first 'tag'."),
    ] = "folder",
    name: Annotated[str, typer.Option("--name", help="Dataset name.")] = "overlay",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write a passport spec: from the overlay's notes, or a small starter to edit."""
    from overlay.dataset.scaffold import STARTER

    if (goal or tag) and not from_overlay:
        raise OverlayError("--goal and --tag select notes: add --from-overlay")
    if output is not None and output.exists() and not force:
        raise OverlayError(f"{output} exists; add --force to overwrite it")
    if from_overlay:
        with open_overlay(db) as overlay:
            text = overlay.scaffold(name, goal, tag, by)
    else:
        text = STARTER.replace("name: starter", f"name: {json.dumps(name)}")
    if output is None:
        if json_out:
            emit({"spec": text})
        else:
            typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    from overlay.dataset import load_spec

    spec = load_spec(output)
    summary = {
        "path": str(output),
        "modules": len(spec.passport.modules),
        "nodes": len(spec.refs),
    }
    if json_out:
        emit(summary)
    else:
        out.print(f"wrote {output}: {summary['modules']} modules, {summary['nodes']} nodes")


@dataset_app.command("build")
@limit_options
def build(
    spec: Annotated[Path, typer.Argument(help="The passport YAML.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write into.")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the templated choices.")] = 0,
    model: ModelOpt = None,
    tokens: TokensOpt = True,
    json_out: JsonOpt = False,
    limits: dict[str, int] | None = None,
) -> None:
    """Compile the spec into items and export JSONL, a HF DatasetDict and a dataset card.
    An interrupted build resumes where it stopped."""
    from overlay.config import Settings
    from overlay.dataset import build as run_build
    from overlay.dataset import load_spec, uses_lm
    from overlay.plugins import load_lm, load_plugins

    bounds = DatasetConfig(**(limits or {}))
    lm = None
    if uses_lm(load_spec(spec, bounds)):
        config = Settings.make(**({"lm": {"model": model}} if model else {})).lm
        lm = load_lm(config, load_plugins())
    with progress(True) as bar:
        result = run_build(spec, output, seed=seed, lm=lm, tokens=tokens, progress=bar,
                           limits=bounds)
    report = result.report.to_json()
    chat = [i for i in result.built.items if i.text is None]
    by_kind = dict(sorted(Counter(i.kind for i in result.built.items).items()))
    stats = dict(sorted(result.built.stats.items()))
    data = {
        "output": str(output),
        "items": len(chat),
        "pretrain": len(result.built.items) - len(chat),
        "self_tests": len(result.built.tests),
        "resumed_nodes": result.built.resumed,
        "by_kind": by_kind,
        "stats": stats,
        "check": {k: report[k] for k in ("ok", "errors", "warnings", "by_rule")},
        "files": result.hashes,
    }
    if json_out:
        emit(data)
        return
    kinds = ", ".join(f"{k} {n}" for k, n in by_kind.items())
    out.print(f"built [bold]{output}[/]: {data['items']} training items, "
              f"{data['self_tests']} self-tests held out ({kinds})")
    if result.built.resumed:
        out.print(f"resumed: {result.built.resumed} nodes came from the interrupted build")
    if stats:
        out.print("notes: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    _show_report(report, limit=10)
    if not result.report.ok:
        err.print(f"the design rules found {report['errors']} errors: "
                  f"overlay dataset check {output}")


@dataset_app.command("check")
@limit_options
def check(
    target: Annotated[Path, typer.Argument(help="A passport YAML, or a built dataset folder.")],
    seed: Annotated[int, typer.Option("--seed", help="Seed when building a spec in memory.")] = 0,
    tokens: TokensOpt = True,
    json_out: JsonOpt = False,
    limits: dict[str, int] | None = None,
) -> None:
    """Run the design rules; exit 1 when any rule reports an error."""
    from overlay.dataset import check as run_check

    if not target.exists():
        raise OverlayError(f"{target}: no such file or folder")
    with progress(True) as bar:
        report = run_check(target, seed=seed, tokens=tokens, progress=bar,
                           limits=DatasetConfig(**(limits or {})))
    data = report.to_json()
    if json_out:
        emit(data)
    else:
        _show_report(data)
    if not report.ok:
        err.print(f"error: {target}: {data['errors']} design-rule errors")
        raise typer.Exit(1)
