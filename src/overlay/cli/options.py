"""CLI options derived from the pydantic settings models, never retyped (peft's `LoraConfig`
way): a flag's help is its field's description, so the two cannot drift apart."""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel

from overlay.config import TEXT_CHARS, validated
from overlay.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def option(model: type[BaseModel], field: str, *flags: str, **extra: Any) -> Any:
    """A Typer option for one field of `model`, with the field's description as its help."""
    info = model.model_fields[field]
    return typer.Option(*(flags or (flag(field),)), help=info.description, **extra)


def _cli_type(annotation: Any) -> Any:
    """The field's type as Typer takes it: variadic tuples become lists."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is tuple:
        return list[args[0]]  # type: ignore[valid-type]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_cli_type(a) for a in args)]  # noqa: UP007
    return annotation


def _with_fields(
    model: type[BaseModel],
    fields: list[str],
    keep: str,
    gather: Callable[[dict[str, Any]], Any],
    optional: bool,
) -> Callable[[F], F]:
    """Add one option per field in `fields` to a command; `gather` turns their values into
    what the command's parameter `keep` receives."""

    def wrap(func: F) -> F:
        sig = inspect.signature(func, eval_str=True)
        params = [p for p in sig.parameters.values() if p.name != keep]
        for name in fields:
            info = model.model_fields[name]
            default = None if optional else info.get_default(call_default_factory=True)
            if isinstance(default, tuple):
                default = list(default)
            kind = _cli_type(info.annotation)
            params.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=default,
                    annotation=Annotated[kind | None if optional else kind, option(model, name)],
                )
            )

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            kwargs[keep] = gather({name: kwargs.pop(name) for name in fields})
            return func(**kwargs)

        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        return command  # type: ignore[return-value]

    return wrap


def settings_options(model: type[BaseModel], keep: str = "settings") -> Callable[[F], F]:
    """Give a command one option per field of `model`; the command receives them as one
    validated `model` instance in its parameter named `keep`."""
    return _with_fields(model, list(model.model_fields), keep,
                        lambda values: validated(model, values), optional=False)


def given_options(model: type[BaseModel], fields: list[str], keep: str) -> Callable[[F], F]:
    """Give a command an option for each of `fields` of `model`, none required; the command
    receives the ones given as a dict in its parameter named `keep`."""
    return _with_fields(model, fields, keep,
                        lambda values: {k: v for k, v in values.items() if v is not None},
                        optional=True)


def bounded(value: str | None) -> str | None:
    """A text argument, refused in one line past `TEXT_CHARS` before anything reads it."""
    if value is not None and len(value) > TEXT_CHARS:
        raise ConfigError(f"the text given is {len(value):,} characters; at most "
                          f"{TEXT_CHARS:,} are taken")
    return value
