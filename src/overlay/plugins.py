"""Backends plug in through one registration hook (pluggy, as in simonw/llm).

A plugin module implements any of `register_stores`, `register_embedders`, `register_lms`
and is registered with the plugin manager, or exposed through the `overlay` entry-point group.
The built-in backends use the same hooks (see `overlay.builtins`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from overlay.errors import PluginError

if TYPE_CHECKING:
    from overlay.config import LMConfig
    from overlay.lm.base import LM

hookspec = pluggy.HookspecMarker("overlay")
hookimpl = pluggy.HookimplMarker("overlay")

_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")


class Hooks:
    """The hook specifications a plugin may implement."""

    @hookspec
    def register_stores(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        """Call `register(name, factory)`; `factory(path: Path)` returns a `Store`."""

    @hookspec
    def register_embedders(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        """Call `register(name, factory)`; `factory(config)` returns an `Embedder`."""

    @hookspec
    def register_lms(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        """Call `register(name, factory)`; `factory(config: LMConfig)` returns an `LM`."""


@dataclass
class Registry:
    """Named factories of one kind, filled through a hook, with validation that says the fix."""

    kind: str
    factories: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def register(self, name: str, factory: Callable[..., Any]) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise PluginError(
                f"{self.kind} name {name!r} is invalid: use lower-case letters, digits, '_', '-', "
                "'.', starting with a letter"
            )
        if not callable(factory):
            raise PluginError(f"{self.kind} {name!r}: factory {factory!r} is not callable")
        if name in self.factories:
            raise PluginError(
                f"{self.kind} {name!r} is already registered; pick another name for your plugin"
            )
        self.factories[name] = factory

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self.factories[name]
        except KeyError:
            known = ", ".join(sorted(self.factories)) or "none"
            raise PluginError(f"unknown {self.kind} {name!r}; registered: {known}") from None


@dataclass
class Plugins:
    """The plugin manager and the registries it fills. Build one with `load_plugins()`."""

    manager: pluggy.PluginManager
    stores: Registry
    embedders: Registry
    lms: Registry


def load_plugins(*extra: object, entry_points: bool = True) -> Plugins:
    """Register the built-ins, any `extra` plugin objects and installed entry points."""
    from overlay import builtins

    pm = pluggy.PluginManager("overlay")
    pm.add_hookspecs(Hooks)
    pm.register(builtins)
    for plugin in extra:
        pm.register(plugin)
    if entry_points:
        pm.load_setuptools_entrypoints("overlay")
    stores, embedders, lms = Registry("store"), Registry("embedder"), Registry("lm")
    pm.hook.register_stores(register=stores.register)
    pm.hook.register_embedders(register=embedders.register)
    pm.hook.register_lms(register=lms.register)
    return Plugins(pm, stores, embedders, lms)


def load_lm(config: LMConfig, plugins: Plugins) -> LM:
    """The LM `config.model` names: a registered name, else a local folder or cached hub id."""
    try:
        factory = plugins.lms.get(config.model)
    except PluginError:
        from pathlib import Path

        if "/" not in config.model and not Path(config.model).exists():
            raise
        from overlay.builtins import hf_model

        lm: LM = hf_model(config, config.model)
        return lm
    made: LM = factory(config)
    return made
