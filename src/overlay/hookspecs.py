"""The hook markers and specifications a plugin implements (pluggy, as in simonw/llm).

A plugin module implements any of `register_stores`, `register_embedders`, `register_lms`
with `@hookimpl`, and is registered with `load_plugins(plugin)` or exposed through the
`overlay` entry-point group. The built-in backends (`overlay.builtins`) use the same hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("overlay")
hookimpl = pluggy.HookimplMarker("overlay")

Register = Callable[[str, Callable[..., Any]], None]


class Hooks:
    """The hook specifications a plugin may implement."""

    @hookspec
    def register_stores(self, register: Register) -> None:
        """Call `register(name, factory)`; `factory(path: Path, *, create: bool, readonly: bool)`
        returns a `Store` (`readonly`: a connection that only reads, beside a writer)."""

    @hookspec
    def register_embedders(self, register: Register) -> None:
        """Call `register(name, factory)`; `factory(config: RetrieveConfig)` returns an
        `Embedder` (or None for no dense retrieval)."""

    @hookspec
    def register_lms(self, register: Register) -> None:
        """Call `register(name, factory)`; `factory(config: LMConfig)` returns an `LM`."""
