"""`overlay store`: an overlay moved between stores (a SQLite file, a PostgreSQL database)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from overlay.cli.app import JsonOpt, app, emit, out, progress
from overlay.transfer import copy_store

store_app = typer.Typer(
    help="Move an overlay between stores: a SQLite file, a postgresql:// database.",
    no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("copy")
def copy(
    source: Annotated[str, typer.Argument(help="The store to copy: a .db file or a "
                                                "postgresql:// URL.")],
    target: Annotated[str, typer.Argument(help="A new store (a file that does not exist, or "
                                                "an empty database) to copy it into.")],
    json_out: JsonOpt = False,
) -> None:
    """Copy every node, link, vector, count, event and trace, ids as they were, in one
    transaction: the event log and every count are the same on the other side."""
    with progress(not json_out) as bar:
        done = copy_store(source, target, progress=bar)
    if json_out:
        emit(done)
        return
    table = Table("table", "rows", title=f"{done['source']} → {done['target']}")
    for name, rows in done["rows"].items():
        if rows:
            table.add_row(name, str(rows))
    out.print(table)
    out.print(f"copied {done['nodes']} nodes and {done['events']} events")
