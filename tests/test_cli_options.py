"""Every CLI option does something: each parameter of every command is read by the command's
body (an option that is accepted and ignored is a defect), and options derived from a settings
model carry that model's field descriptions as their help."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import typer

from overlay.cli import app
from overlay.train import LoraSettings


def commands(group: Any, prefix: str = "overlay") -> Iterator[tuple[str, Any]]:
    """(full name, command) for every leaf command under `group`."""
    ctx = typer.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if hasattr(cmd, "list_commands"):
            yield from commands(cmd, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", cmd


def unread(func: Callable[..., Any]) -> list[str]:
    """The parameters of `func` its body never reads."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    names = [a.arg for a in (*fn.args.args, *fn.args.kwonlyargs)]
    read = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return [n for n in names if n not in read]


def test_every_option_of_every_command_is_read() -> None:
    found = {}
    for name, cmd in commands(typer.main.get_command(app)):
        assert cmd.callback is not None
        dead = unread(inspect.unwrap(cmd.callback))
        if dead:
            found[name] = dead
    assert found == {}


def test_train_lora_options_are_the_settings_fields() -> None:
    cmd = dict(commands(typer.main.get_command(app)))["overlay train lora"]
    helps = {p.name: getattr(p, "help", None) for p in cmd.params}
    for field, info in LoraSettings.model_fields.items():
        assert helps.get(field) == info.description, field
