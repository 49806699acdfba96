"""Commands that use the LM: ask, choose, run (a method), trace."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from overlay.cli.app import (
    DbOpt,
    EmbedderOpt,
    JsonOpt,
    SinceOpt,
    SpeakerOpt,
    UntilOpt,
    app,
    emit,
    err,
    model_options,
    open_overlay,
    out,
)
from overlay.cli.options import bounded
from overlay.engine import Overlay
from overlay.trace import Trace, render

GoalOpt = Annotated[str, typer.Option("--goal", help="What the answer is for.")]


@contextmanager
def _loading(overlay: Overlay) -> Iterator[None]:
    """Load the LM with a spinner on a terminal (the first run converts the default model)."""
    if err.is_terminal:
        with err.status("loading the language model (the first run converts it once)…"):
            _ = overlay.lm
    yield


SHORT = {"lm": "lm", "retrieval": "ret", "information": "inf", "activation": "act"}


def _terms(trace: Trace, limit: int) -> Table:
    """The best candidates with their weighted terms (every term is in the trace)."""
    w = trace.settings
    learned = w.get("term_weights") or {}  # the weights in force, learned from verdicts
    formula = " + ".join(f"{learned.get(k, w.get('w_' + k[:3], 0)):.3g}·{v}"
                         for k, v in SHORT.items())
    shown = dict(SHORT)
    if any("boost" in c.terms for c in trace.candidates):  # a signal operator's boost
        shown["boost"] = "boost"
        formula += " + boost"
    table = Table(title=f"candidates (score = {formula})", title_justify="left")
    # numbers are never cut: the title gets what the console has left (3 = a cell's border and
    # padding), and is cut with an ellipsis
    fixed = 1 + 6 + 8 + 6 * len(shown) + 3 * (4 + len(shown)) + 1
    table.add_column("", no_wrap=True, width=1)
    table.add_column("score", justify="right", no_wrap=True, min_width=5)
    table.add_column("node", no_wrap=True, min_width=8)
    table.add_column("title", overflow="ellipsis", no_wrap=True,
                     max_width=max(8, out.width - fixed))
    for name in shown.values():  # numbers are never cut; the title gives way
        table.add_column(name, justify="right", no_wrap=True, min_width=5)
    ranked = sorted(trace.candidates, key=lambda c: -c.score)[:limit]
    for c in ranked:
        table.add_row(
            "✔" if c.chosen else "",
            f"{c.score:+.2f}",
            (c.node_id or "")[:8],
            c.title or c.text,
            *(f"{c.terms[k]:+.2f}" if k in c.terms else "·" for k in shown),
        )
    return table


def _answer(trace: Trace) -> Text:
    """The answer with copied spans in bold and the model's own words dimmed."""
    text, at = Text(), 0
    for span in trace.spans:
        text.append(trace.answer[at : span.start])
        text.append(span.text, style="bold" if span.origin == "overlay" else "dim")
        at = span.end
    text.append(trace.answer[at:])
    return text


def _show(overlay: Overlay, trace: Trace, limit: int = 6) -> None:
    out.print(_answer(trace), highlight=False)
    if any(s.origin == "model" for s in trace.spans):
        out.print("[dim](dimmed: the model's own words, backed by no note)[/]")
    cited = overlay.citations(trace)
    if cited:
        out.print("[bold]cited:[/]")
        for c in cited:
            where = f"{c['source']}:{c['line']}" if c["source"] else ""
            title = c["title"] or "(deleted)"
            out.print(f"  [cyan]{c['node']}[/] {title} [dim]{where}[/]", highlight=False)
            if c.get("time"):  # a turn: when it was said, and in which session
                when = c["time"].replace("T", " ")
                out.print(f"    [dim]{c.get('speaker', '')}, {when}, {c['session']}[/]",
                          highlight=False)
    within = trace.settings.get("within")
    if within:
        said = trace.settings.get("time_said")
        out.print(f"[dim]within {', '.join(f'{k} {v}' for k, v in within.items())}"
                  + (f" (the question says “{said}”)" if said else "") + "[/]", highlight=False)
    if trace.candidates:
        out.print(_terms(trace, limit))
    out.print(f"[dim]trace {trace.id} · {trace.timings.get('total', 0) * 1000:.0f} ms[/]")


@app.command()
@model_options
def ask(
    question: Annotated[str, typer.Argument(
        callback=bounded, help="The question, in plain words.")],
    goal: GoalOpt = "answer",
    mode: Annotated[
        str, typer.Option("--mode", help="statement: cite chosen notes; compose: write with them.")
    ] = "statement",
    strict: Annotated[
        bool, typer.Option("--strict", help="Compose only from the notes and a few connectives.")
    ] = False,
    speaker: SpeakerOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
    models: dict[str, str] | None = None,
) -> None:
    """Answer from the overlay, citing the notes behind every span; the trace is stored.
    Among conversations, --speaker and --since/--until keep to some turns."""
    with open_overlay(db, embedder=embedder, models=models) as overlay, _loading(overlay):
        scope = overlay.scope(question, speaker, since, until)
        trace = overlay.ask(question, goal=goal, mode=mode, strict=strict, scope=scope)
        if json_out:
            emit(trace.to_dict())
        else:
            _show(overlay, trace)


@app.command()
@model_options
def choose(
    prompt: Annotated[str, typer.Argument(
        callback=bounded, help="The text the options would continue.")],
    option: Annotated[
        list[str], typer.Option("--option", "-o", help="An option; give two or more.")
    ],
    goal: GoalOpt = "answer",
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
    models: dict[str, str] | None = None,
) -> None:
    """Rank given options with the overlay's help (the bare LM's score is shown beside)."""
    with open_overlay(db, embedder=embedder, models=models) as overlay, _loading(overlay):
        trace = overlay.choose(prompt, option, goal=goal)
    if json_out:
        emit(trace.to_dict())
        return
    out.print(_choice_table(trace))
    context = trace.settings.get("context") or []
    for row in context:
        out.print(f"  [dim]context {row['id']}: {row['text'][:90]}[/]", highlight=False)
    out.print(f"[dim]trace {trace.id}[/]")


def _choice_table(trace: Trace) -> Table:
    """The options as a person reads them: how far the notes support each, and how likely the
    model finds each (per token, with the notes and without); the raw score terms are in
    --json."""
    table = Table(caption="ranked by the notes' support; the model breaks ties"
                  if trace.settings.get("support_first", True) else None)
    for col, justify in (("rank", "right"), ("option", "left"), ("notes support", "right"),
                         ("model, with notes", "right"), ("model alone", "right")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for c in sorted(trace.candidates, key=lambda c: c.rank):
        table.add_row(str(c.rank), c.text, f"{c.terms.get('retrieval', 0.0):.0%}",
                      f"{math.exp(c.terms.get('lm', -math.inf)):.1%} a token",
                      f"{math.exp(c.terms.get('lm_bare', -math.inf)):.1%} a token")
    return table


@app.command()
@model_options
def run(
    method: Annotated[str, typer.Argument(help="Method note: its title, id or id prefix.")],
    task: Annotated[str, typer.Option("--input", "-i", help="What the method is run on.")],
    goal: GoalOpt = "answer",
    write: Annotated[
        bool, typer.Option("--write", help="Let the model write each step's result from the "
                           "notes (a small model invents details); by default the note that "
                           "speaks to the step is its result, cited.")
    ] = False,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
    models: dict[str, str] | None = None,
) -> None:
    """Run a method note step by step; at each branch the selector chooses the way. Exits 1
    when the run stopped at a limit (steps, or a loop cut both ways)."""
    with open_overlay(db, embedder=embedder, models=models) as overlay, _loading(overlay):
        trace = overlay.run(method, task, goal=goal, write=write)
    if json_out:
        emit(trace.to_dict())
    else:
        _show_run(trace)
    if trace.settings.get("stopped"):
        err.print(f"error: the run stopped: {trace.settings['stopped']}", highlight=False)
        raise typer.Exit(1)


def _show_run(trace: Trace) -> None:
    for step in trace.steps:
        out.print(f"[bold]{step.number}.[/] {step.text}", highlight=False)
        if step.branch:
            b = step.branch
            why = f" ({b['note']})" if b.get("note") else ""
            out.print(f"   [magenta]→ step {b['goto']}: {b['chosen']}{why}[/]", highlight=False)
        elif step.output:
            out.print(Text("   " + step.output, style="dim"), highlight=False)
            for node in step.nodes[:1] if trace.mode == "method" else []:
                out.print(f"   [cyan]cited {node}[/]", highlight=False)
    out.print(f"path: {' → '.join(str(s.number) for s in trace.steps)}")
    out.print(f"[dim]trace {trace.id} · {trace.timings.get('total', 0):.1f} s[/]")


@app.command()
def trace(
    trace_id: Annotated[str, typer.Argument(help="Trace id or a unique prefix of it.")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a stored trace: answer spans and their nodes, candidates, score terms, timings."""
    with open_overlay(db) as overlay:
        found = overlay.trace(trace_id)
    if json_out:
        emit(found.to_dict())
    else:
        out.print(render(found))
