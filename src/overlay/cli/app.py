"""The Typer app and what every command shares: options, opening the store, output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from overlay.cli.options import given_options, option
from overlay.config import LMConfig, RetrieveConfig, Settings, default_db_path
from overlay.engine import Overlay

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
    str | None,
    typer.Option("--db", help="Overlay store: a file, or a postgresql:// URL [default: "
                 "$OVERLAY_DB or ./.overlay/overlay.db]"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CreateOpt = Annotated[
    bool,
    typer.Option("--create", help="Create the store if it does not exist (without it, a "
                 "missing --db is an error: a mistyped path makes nothing)."),
]
EmbedderOpt = Annotated[str | None, option(RetrieveConfig, "embedder")]
ThreadsOpt = Annotated[int | None, option(Settings, "threads", min=1)]
# what a search or ask keeps to, among conversations' turns (see overlay.memories)
SpeakerOpt = Annotated[str | None, typer.Option(
    "--speaker", help="Only what this speaker said (as the export names them; case aside).")]
SinceOpt = Annotated[str | None, typer.Option(
    "--since", help="Only memories from this date on: YYYY, YYYY-MM, YYYY-MM-DD or words "
    "('May 2023'). Without --since/--until, a time the question names is used.")]
UntilOpt = Annotated[str | None, typer.Option(
    "--until", help="Only memories up to the end of this date (same forms as --since).")]
ModelOpt = Annotated[str | None, option(LMConfig, "model")]
# a command that uses the LM takes these; it receives the ones given as a dict `models`
model_options = given_options(LMConfig, ["model", "model_name", "score_model", "write_model"],
                              "models")


def open_overlay(
    db: Path | str | None,
    create: bool = False,
    embedder: str | None = None,
    model: str | None = None,
    models: dict[str, Any] | None = None,
    encoding: str | None = None,
    threads: int | None = None,
) -> Overlay:
    """The overlay at `db` with the embedder, models and cores the command line chose."""
    values: dict[str, Any] = {"db": db or default_db_path()}
    if threads:
        values["threads"] = threads
    if embedder:
        values["retrieve"] = {"embedder": embedder}
    if encoding:
        values["ingest"] = {"encoding": encoding}
    lm = {**({"model": model} if model else {}), **(models or {})}
    if lm:
        values["lm"] = lm
    overlay = Overlay(settings=Settings.make(**values), create=create)
    if overlay.migrated_from:
        err.print(f"[yellow]upgraded {overlay.path} from schema {overlay.migrated_from}[/]")
    return overlay


def emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@contextmanager
def progress(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar per stage on stderr, with the time it has taken and an estimate of
    the time left; silent when stderr is not a terminal."""
    if not enabled or not err.is_terminal:
        yield lambda *_: None
        return
    with Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
