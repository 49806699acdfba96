"""Commands over the knowledge layer: init, ingest, search, show, stats, links."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.tree import Tree

from overlay.cli.app import (
    CreateOpt,
    DbOpt,
    EmbedderOpt,
    JsonOpt,
    SinceOpt,
    SpeakerOpt,
    ThreadsOpt,
    UntilOpt,
    app,
    emit,
    err,
    open_overlay,
    out,
    progress,
)
from overlay.cli.options import bounded, option
from overlay.config import IngestConfig


@app.command()
def init(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Create an empty overlay store (or check and upgrade an existing one)."""
    with open_overlay(db, create=True) as overlay:
        stats = overlay.stats()
    if json_out:
        emit(stats)
    else:
        out.print(f"overlay store ready at {stats['db']} (schema {stats['schema_version']})")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Vault folders or note files.")],
    db: DbOpt = None,
    create: CreateOpt = False,
    encoding: Annotated[str | None, option(IngestConfig, "encoding")] = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Read notes into the overlay; re-running touches only what changed."""
    with (
        open_overlay(db, create=create, embedder=embedder, encoding=encoding,
                     threads=threads) as overlay,
        progress(True) as bar,
    ):
        report = overlay.ingest(paths, bar)
    data = report.to_dict()
    if json_out:
        emit(data)
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
def reembed(
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Give every node a vector from --embedder (a store made with another, e.g. MiniLM before
    the multilingual default): afterwards searches and asks use it."""
    with (
        open_overlay(db, embedder=embedder, threads=threads) as overlay,
        progress(True) as bar,
    ):
        done = overlay.reembed(bar)
        name = overlay.embedder.name if overlay.embedder else ""
    if json_out:
        emit({"embedded": done, "embedder": name})
        return
    out.print(f"{done} nodes embedded with {name}")


@app.command()
def search(
    query: Annotated[str, typer.Argument(
        callback=bounded, help="What to look for, in any language.")],
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="How many hits.")] = 10,
    speaker: SpeakerOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
) -> None:
    """Hybrid search (lexical + dense + one graph hop), with sources and score parts;
    among conversations, by speaker and date too."""
    with open_overlay(db, embedder=embedder) as overlay:
        scope = overlay.scope(query, speaker, since, until)
        hits = overlay.search(query, k, scope)
    if json_out:
        emit([h.to_dict() for h in hits])
        return
    if scope.within is not None and not scope.within.empty:
        said = f" (the question says “{scope.said}”)" if scope.said else ""
        out.print(f"[dim]within {_within(scope.within.to_dict())}{said}[/]", highlight=False)
    if not hits:
        out.print("nothing found")
        return
    for rank, hit in enumerate(hits, 1):
        parts = hit.parts
        why = [
            f"{name} #{int(parts[name + '_rank'])}"
            + (f" ×{parts[name + '_weight']:.2f}" if name + "_weight" in parts else "")
            for name in ("lexical", "dense")
            if name + "_rank" in parts
        ]
        if parts.get("graph", 0.0) > parts.get("rrf", 0.0):
            why = [f"graph {parts['graph']:.4f} via {', '.join(hit.via)}"]
        where = f"{hit.source_path}:{hit.line}" if hit.source_path else "(learned)"
        out.print(
            f"[bold]{rank}. {hit.title}[/]  [dim]{hit.kind} {hit.node_id}[/]", highlight=False
        )
        out.print(
            f"   [cyan]{where}[/]  score {hit.score:.4f} = {' + '.join(why)}", highlight=False
        )
        if hit.time or hit.speaker:
            when = hit.time.replace("T", " ") if hit.time else None
            out.print(f"   [dim]{' · '.join(filter(None, [hit.speaker, when]))}[/]",
                      highlight=False)
        if hit.snippet and hit.snippet != hit.title:
            out.print(f"   {hit.snippet}", highlight=False, markup=False)


@app.command()
def show(
    node_id: Annotated[str, typer.Argument(help="Node id or a unique prefix of it.")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One node: its text, provenance, edges and weights per goal."""
    with open_overlay(db) as overlay:
        data = overlay.show(node_id)
        data["weights"] = overlay.weights(data["id"])
    if json_out:
        emit(data)
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
    if data["weights"]:
        branch = tree.add("weights (Kharkevich: log2 p1/p0)")
        for w in data["weights"]:
            branch.add(f"{w['goal']}: s={w['s']} f={w['f']} · p0={w['p0']:.3f} (episodes "
                       f"{w['episodes_s']}/{w['episodes_s'] + w['episodes_f']} good) · "
                       f"p1={w['p1']:.3f} · {w['bits']:+.3f} bits")
    out.print(tree)


@app.command()
def stats(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Counts of files, nodes, edges, vectors and events."""
    with open_overlay(db) as overlay:
        data = overlay.stats()
    if json_out:
        emit(data)
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
    with open_overlay(db) as overlay:
        rows = overlay.links(unresolved)
    if json_out:
        emit(rows)
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


def _within(within: dict[str, str]) -> str:
    """A filter as a person reads it: "Caroline, 2023-05-01 to 2023-06-01"."""
    dates = " to ".join(filter(None, [within.get("since", "…"), within.get("until", "…")]))
    return ", ".join(filter(None, [within.get("speaker"), dates if within.keys() - {"speaker"}
                                   else ""]))
