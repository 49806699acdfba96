"""The `overlay` command line: a thin face over `overlay.engine.Overlay`.

Every command takes `--db` and `--json`. Errors become one line on stderr and a non-zero exit;
only with OVERLAY_DEBUG=1 does an unexpected error show its traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.tree import Tree

from overlay.config import Settings, default_db_path
from overlay.engine import Overlay
from overlay.errors import OverlayError

app = typer.Typer(
    name="overlay",
    help="Keep knowledge outside the model: ingest notes, search them, see their sources.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOpt = Annotated[
    Path | None,
    typer.Option("--db", help="Overlay store file [default: $OVERLAY_DB or ./.overlay/overlay.db]"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
EmbedderOpt = Annotated[
    str | None,
    typer.Option(
        "--embedder", help="Embedder: minilm (default), hashing, none, or a model folder."
    ),
]


def _open(db: Path | None, create: bool = False, embedder: str | None = None) -> Overlay:
    values: dict[str, Any] = {"db": db or default_db_path()}
    if embedder:
        values["retrieve"] = {"embedder": embedder}
    overlay = Overlay(settings=Settings.make(**values), create=create)
    if overlay.store.migrated_from:
        err.print(
            f"[yellow]upgraded {overlay.store.path} from schema {overlay.store.migrated_from}[/]"
        )
    return overlay


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar per stage on stderr; silent when stderr is not a terminal."""
    if not enabled or not err.is_terminal:
        yield lambda *_: None
        return
    with Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


@app.command()
def init(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Create an empty overlay store (or check and upgrade an existing one)."""
    with _open(db, create=True) as overlay:
        stats = overlay.stats()
    if json_out:
        _emit(stats)
    else:
        out.print(f"overlay store ready at {stats['db']} (schema {stats['schema_version']})")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Vault folders or note files.")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
) -> None:
    """Read notes into the overlay; re-running touches only what changed."""
    with _open(db, create=True, embedder=embedder) as overlay, _progress(True) as progress:
        report = overlay.ingest(paths, progress)
    data = report.to_dict()
    if json_out:
        _emit(data)
        return
    out.print(
        f"[bold]{data['files']}[/] files: {data['added']} added, {data['updated']} updated, "
        f"{data['renamed']} renamed, {data['deleted']} deleted, {data['unchanged']} unchanged; "
        f"{data['repaired']} repaired"
    )
    out.print(
        f"{data['nodes_written']} nodes written, {data['embedded']} embedded; links: "
        f"{data['links']} ({data['links_resolved']} resolved, "
        f"{data['links_unresolved']} unresolved)"
    )
    for path, how in data["repaired_files"].items():
        out.print(f"  repaired {path} ({how})")
    for warning in data["warnings"]:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in any language.")],
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="How many hits.")] = 10,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
) -> None:
    """Hybrid search (lexical + dense + one graph hop), with sources and score parts."""
    with _open(db, embedder=embedder) as overlay:
        hits = overlay.search(query, k)
    if json_out:
        _emit([h.to_dict() for h in hits])
        return
    if not hits:
        out.print("nothing found")
        return
    for rank, hit in enumerate(hits, 1):
        parts = hit.parts
        why = [
            f"{name} #{int(parts[name + '_rank'])}"
            for name in ("lexical", "dense")
            if name + "_rank" in parts
        ]
        if "graph" in parts:
            why.append(f"graph +{parts['graph']:.4f} via {', '.join(hit.via)}")
        where = f"{hit.source_path}:{hit.line}" if hit.source_path else "(learned)"
        out.print(
            f"[bold]{rank}. {hit.title}[/]  [dim]{hit.kind} {hit.node_id}[/]", highlight=False
        )
        out.print(
            f"   [cyan]{where}[/]  score {hit.score:.4f} = {' + '.join(why)}", highlight=False
        )
        if hit.snippet and hit.snippet != hit.title:
            out.print(f"   {hit.snippet}", highlight=False, markup=False)


@app.command()
def show(
    node_id: Annotated[str, typer.Argument(help="Node id or a unique prefix of it.")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One node: its text, provenance and edges."""
    with _open(db) as overlay:
        data = overlay.show(node_id)
    if json_out:
        _emit(data)
        return
    tree = Tree(f"[bold]{data['title']}[/]  [dim]{data['id']} · {data['kind']}[/]")
    if data["source"]:
        tree.add(f"source: {data['source']} lines {data['lines'][0]}–{data['lines'][1]}")
    tree.add(data["text"] or "[dim](no text)[/]")
    for label, rows, end in (("out", data["out"], "to"), ("in", data["in"], "from")):
        if rows:
            branch = tree.add(f"{label} ({len(rows)})")
            for r in rows:
                other = r.get(end) or f"unresolved: {r.get('target')}"
                branch.add(f"{r['kind']} → {r.get('title') or ''} [dim]{other}[/]")
    out.print(tree)


@app.command()
def stats(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Counts of files, nodes, edges, vectors and events."""
    with _open(db) as overlay:
        data = overlay.stats()
    if json_out:
        _emit(data)
        return
    table = Table(show_header=False)
    for key, value in data.items():
        table.add_row(
            key,
            ", ".join(f"{k} {v}" for k, v in value.items())
            if isinstance(value, dict)
            else str(value),
        )
    out.print(table)


@app.command()
def links(
    unresolved: Annotated[
        bool, typer.Option("--unresolved", help="Only links to nothing.")
    ] = False,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Links as written in the notes, and what each resolved to."""
    with _open(db) as overlay:
        rows = overlay.links(unresolved)
    if json_out:
        _emit(rows)
        return
    if not rows:
        out.print("no unresolved links" if unresolved else "no links")
        return
    table = Table()
    for col in ("where", "target", "resolved to"):
        table.add_column(col, overflow="fold")
    for r in rows:
        target = r["target"] + (f"#{r['anchor']}" if r["anchor"] else "")
        table.add_row(f"{r['source']}:{r['line']}", target, r["to_title"] or "[red]unresolved[/]")
    out.print(table)
    out.print(f"{len(rows)} links")


def reference() -> str:
    """The CLI reference in Markdown, generated from the commands themselves (docs/cli.md)."""
    root = typer.main.get_command(app)
    top = typer.Context(root, info_name="overlay", terminal_width=100)
    lines = [
        "# CLI reference",
        "",
        "Generated from the commands' help (`make docs`); do not edit.",
        "",
    ]
    lines += ["```", root.get_help(top).rstrip(), "```", ""]
    for name in root.list_commands(top):  # type: ignore[attr-defined]
        cmd = root.get_command(top, name)  # type: ignore[attr-defined]
        ctx = typer.Context(cmd, info_name=name, parent=top, terminal_width=100)
        lines += [f"## overlay {name}", "", "```", cmd.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(lines)


def main() -> None:
    """Entry point: run the app, turning errors into one line on stderr."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        app()  # usage errors are reported (and exit 2) by Typer itself
    except OverlayError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("OVERLAY_DEBUG"):
            raise
        err.print(
            f"unexpected error: {type(exc).__name__}: {exc} (OVERLAY_DEBUG=1 shows the traceback)",
            highlight=False,
            markup=False,
        )
        sys.exit(2)
