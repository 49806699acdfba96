"""The `overlay` command line: a thin face over `overlay.engine.Overlay`.

Every command takes `--db` and `--json`. Errors become one line on stderr and a non-zero exit;
only with OVERLAY_DEBUG=1 does an unexpected error show its traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from overlay.cli import (  # noqa: F401  (registers the commands)
    dataset,
    evaluate,
    imprint,
    knowledge,
    learning,
    lm,
    selection,
    server,
    signal,
    store,
)
from overlay.cli.app import app, err
from overlay.errors import OverlayError

__all__ = ["app", "main", "reference"]


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
