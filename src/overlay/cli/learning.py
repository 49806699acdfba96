"""Commands that change what the overlay knows and take it back: learn, feedback, history,
undo, revert, merge, insights; and what experience has taught the selector (weights)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from overlay.cli.app import (
    CreateOpt,
    DbOpt,
    EmbedderOpt,
    JsonOpt,
    app,
    emit,
    open_overlay,
    out,
)
from overlay.cli.options import bounded


@app.command()
def learn(
    statement: Annotated[str, typer.Argument(
        callback=bounded, help="The statement, as you would write it.")],
    goal: Annotated[str | None, typer.Option("--goal", help="Goal it is verified for.")] = None,
    link: Annotated[
        list[str] | None, typer.Option("--link", help="Node id it relates to (repeatable).")
    ] = None,
    source: Annotated[str | None, typer.Option("--source", help="Where it comes from.")] = None,
    db: DbOpt = None,
    create: CreateOpt = False,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
) -> None:
    """Add a verified statement; it is searchable and citable at once."""
    with open_overlay(db, create=create, embedder=embedder) as overlay:
        done = overlay.learn(statement, goal=goal, links=link or [], source=source)
    if json_out:
        emit(done)
    else:
        out.print(f"learned [cyan]{done['id']}[/] (event {done['event']}): {done['text']}")


@app.command()
def feedback(
    trace_id: Annotated[str, typer.Argument(help="The trace id an ask printed.")],
    verdict: Annotated[str, typer.Argument(help="good or bad.")],
    correct: Annotated[
        str | None, typer.Option("--correct", callback=bounded,
                                 help="The right answer, learned as a node.")
    ] = None,
    goal: Annotated[str | None, typer.Option("--goal", help="Goal to count toward.")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
) -> None:
    """Count an answer as good or bad for the nodes it used (once per trace; undo to change)."""
    with open_overlay(db, embedder=embedder) as overlay:
        done = overlay.feedback(trace_id, verdict, correct=correct, goal=goal)
    if json_out:
        emit(done)
        return
    out.print(
        f"event {done['event']}: {done['verdict']} counted for {len(done['counted'])} node(s) "
        f"toward goal {done['goal']!r}"
    )
    if done["correction"]:
        out.print(f"learned the correction as [cyan]{done['correction']}[/]")
    for node in done["skipped_deleted"]:
        out.print(f"[yellow]skipped {node}: the node no longer exists[/]")


@app.command()
def history(
    limit: Annotated[int, typer.Option("-n", "--limit", min=1, max=100_000,
                                       help="How many events.")] = 30,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The event log, newest first: what changed, and what can be undone."""
    with open_overlay(db) as overlay:
        rows = overlay.history(limit)
    if json_out:
        emit(rows)
        return
    table = Table()
    for col in ("event", "when", "kind", "what", "state"):
        table.add_column(col, overflow="fold")
    for r in rows:
        state = "undone" if r["undone"] else ("undoable" if r["undoable"] else "")
        table.add_row(str(r["id"]), r["ts"][:19], r["kind"], r["what"], state)
    out.print(table)


@app.command()
def undo(
    event: Annotated[int, typer.Argument(help="Event id from `overlay history`.")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
) -> None:
    """Take one event back with a compensating event (undo an undo to redo)."""
    with open_overlay(db, embedder=embedder) as overlay:
        done = overlay.undo(event)
    if json_out:
        emit(done)
    else:
        out.print(f"event {done['event']}: undid event {done['undid']} ({done['kind']})")


@app.command()
def revert(
    to: Annotated[int, typer.Option("--to", help="Keep events up to this id; undo the rest.")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
) -> None:
    """Undo every undoable event after --to, as one event."""
    with open_overlay(db, embedder=embedder) as overlay:
        done = overlay.revert(to)
    if json_out:
        emit(done)
    elif done["event"] is None:
        out.print(f"nothing to undo after event {to}")
    else:
        undid = ", ".join(map(str, done["undid"]))
        out.print(f"event {done['event']}: undid {undid}")


@app.command()
def merge(
    other: Annotated[str, typer.Argument(help="Another overlay store (a .db file or a "
                                            "postgresql:// URL).")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
) -> None:
    """Import another overlay's learned nodes and counts (each change once, in any order)."""
    with open_overlay(db, embedder=embedder) as overlay:
        done = overlay.merge(other)
    if json_out:
        emit(done)
    elif done["event"] is None:
        out.print(f"nothing new in {other}")
    else:
        out.print(f"event {done['event']}: imported {done['imported']} change(s) from {other}")


@app.command()
def insights(
    accept: Annotated[str | None, typer.Option("--accept", help="Insight id to accept.")] = None,
    reject: Annotated[str | None, typer.Option("--reject", help="Insight id to reject.")] = None,
    min_asks: Annotated[
        int, typer.Option("--min-asks", min=1, help="Distinct asks a pair must share.")
    ] = 3,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Proposed links between unlinked notes that keep lighting up together, with the bits
    toward a goal their co-activation carried in judged asks (pairs with negative bits are
    not proposed)."""
    with open_overlay(db) as overlay:
        if accept or reject:
            done = overlay.decide_insight(accept or reject or "", accept=bool(accept))
            if json_out:
                emit(done)
            else:
                verb = "accepted (an analogy edge)" if accept else "rejected"
                out.print(f"event {done['event']}: insight {done['insight']} {verb}")
            return
        rows = overlay.insights(min_asks)
    if json_out:
        emit(rows)
        return
    if not rows:
        out.print(f"no pair of unlinked notes has been co-activated in {min_asks}+ asks yet")
        return
    table = Table()
    for col in ("insight", "asks", "level", "bits", "a", "b"):
        table.add_column(col, overflow="fold")
    for r in rows:
        bits = f"{r['bits']:+.2f} {r['goal']}" if r["verdicts"] else "–"
        table.add_row(r["id"], str(r["asks"]), f"{r['level']:.2f}", bits, r["title_a"],
                      r["title_b"])
    out.print(table)




weights_app = typer.Typer(help="The selector's score weights, learned from verdicts.",
                          no_args_is_help=True)
app.add_typer(weights_app, name="weights")


@weights_app.command("explain")
def weights_explain(
    goal: Annotated[str | None, typer.Option("--goal", help="One goal (default: every goal "
                                             "with verdicts).")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Each score term's weight per goal, and the verdicts it was learned from."""
    with open_overlay(db) as overlay:
        rows = overlay.term_weights(goal)
    if json_out:
        emit(rows)
        return
    if not rows:
        out.print("no verdicts yet: every term keeps its configured weight "
                  "(`overlay feedback` teaches them)")
        return
    table = Table(title="score weights: prior × 2^bits + gain × max(0, bits), "
                        "bits = log2(p1/p0)")
    for col in ("goal", "term", "prior", "gain", "its picks good/bad",
                "p0 (all episodes)", "p1 (when it led)", "bits", "weight"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["goal"], r["term"], f"{r['prior']:g}", f"{r['gain']:g}",
                      f"{r['picks_good']}/{r['picks_bad']}",
                      f"{r['p0']:.3f} ({r['episodes_s']}/{r['episodes_s'] + r['episodes_f']})",
                      f"{r['p1']:.3f}",
                      f"{r['bits']:+.3f}" + (" (clamped)" if r["clamped"] else ""),
                      f"{r['weight']:.3f}")
    out.print(table)
