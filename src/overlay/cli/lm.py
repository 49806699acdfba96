"""`overlay lm check`: what a model backend can do — score continuations, write under
constraints, stream — and what Overlay will do with it."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from overlay.cli.app import JsonOpt, app, emit, model_options, out
from overlay.config import Settings
from overlay.lm.base import LM, PROCESSORS, REGEX, SCORE, STREAM
from overlay.plugins import load_lm, load_plugins

lm_app = typer.Typer(help="The language model behind the overlay.", no_args_is_help=True)
app.add_typer(lm_app, name="lm")


def plan(lm: LM, regex: bool) -> dict[str, str]:
    """What Overlay does with a backend of these features (`regex`: it constrains decoding
    to a regular expression)."""
    can = lm.features
    return {
        "scoring": "candidates are scored here, one batched request per ask"
        if SCORE in can and lm.backend == "served"
        else "candidates are scored in this process" if SCORE in can
        else "not possible: the server returns no prompt log-probabilities; score in-process "
        "with --score-model smollm2 and let this model write with --write-model",
        "compose": "pulled toward the chosen notes token by token (logits processor)"
        if PROCESSORS in can
        else "writes with the chosen notes in context; spans are attributed after",
        "strict": "only note text and connectives (logits processor)" if PROCESSORS in can
        else "only note text and connectives (the server's constrained decoding)"
        if regex else "not available: the server offers no constrained decoding",
        "answers": "stream token by token" if STREAM in can else "arrive whole",
    }


@lm_app.command("check")
@model_options
def check(json_out: JsonOpt = False, models: dict[str, str] | None = None) -> None:
    """Probe the model --model names (a registered name, a folder or a server URL): prompt
    log-probabilities, constrained decoding, streaming, context length."""
    config = Settings.make(lm=models or {}).lm
    lm = load_lm(config, load_plugins())
    found: dict[str, Any] = {"backend": lm.backend, "name": lm.name,
                             "features": sorted(lm.features)}
    describe = getattr(lm, "describe", None)
    if callable(describe):
        found |= describe()
    found["plan"] = plan(lm, bool(found.get("regex")) or REGEX in lm.features)
    if json_out:
        emit(found)
        return
    table = Table(show_header=False, title=f"{lm.name} ({lm.backend})", title_justify="left")
    for key in ("url", "context", "tokenize", "prompt_logprobs", "regex", "streaming"):
        if key in found:
            value = found[key]
            shown = "yes" if value is True else "no" if value is False else str(value)
            table.add_row(key.replace("_", " "), shown)
    for key, value in found["plan"].items():
        table.add_row(f"[bold]{key}[/]", value)
    out.print(table)
