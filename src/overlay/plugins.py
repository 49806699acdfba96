"""Backend registries filled through the hooks of `overlay.hookspecs` (pluggy, as in
simonw/llm): the built-ins (`overlay.builtins`), any plugin object given to `load_plugins`,
and installed entry points of the `overlay` group. Registration validates and says the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from overlay import builtins
from overlay.errors import PluginError
from overlay.hookspecs import Hooks
from overlay.patterns import linear
from overlay.served import is_url

if TYPE_CHECKING:
    from pathlib import Path

    from overlay.config import LMConfig, RetrieveConfig
    from overlay.lm.base import LM
    from overlay.retrieve.embed import Embedder
    from overlay.store.base import Store

_NAME = linear(r"^[a-z][a-z0-9_.-]*$")


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


def open_store(plugins: Plugins, backend: str, db: Path | str, **options: Any) -> Store:
    """The store at `db` through the backend registered as `backend`; a postgresql:// address
    is opened by the `postgresql` backend whichever is configured for files."""
    from overlay.config import DATABASE_SCHEMES

    if str(db).startswith(DATABASE_SCHEMES) and backend == "sqlite":
        backend = "postgresql"
    store: Store = plugins.stores.get(backend)(db, **options)
    return store


def load_lm(config: LMConfig, plugins: Plugins) -> LM:
    """The LM `config.model` names: a registered name, the URL of a served model (the `served`
    backend), else a local folder or cached hub id."""
    if is_url(config.model):
        served: LM = plugins.lms.get("served")(config)
        return served
    try:
        factory = plugins.lms.get(config.model)
    except PluginError:
        from pathlib import Path

        if "/" not in config.model and not Path(config.model).exists():
            raise
        lm: LM = builtins.hf_model(config, config.model)
        return lm
    made: LM = factory(config)
    return made


AUTO = "auto"
DEFAULT_EMBEDDER = "e5"


def auto_embedder(stored: list[str]) -> str:
    """The embedder 'auto' stands for over a store whose vectors were made by `stored`: the
    built-in one that made them (the default among several), else the default."""
    known = [builtins.STORED_AS[name] for name in stored if name in builtins.STORED_AS]
    return DEFAULT_EMBEDDER if not known or DEFAULT_EMBEDDER in known else known[0]


def load_embedder(config: RetrieveConfig, plugins: Plugins) -> Embedder | None:
    """The embedder `config.embedder` names: a registered name, the URL of a served one (the
    `served` backend), else a local sentence-transformers folder."""
    if config.embedder == AUTO:
        config = config.model_copy(update={"embedder": DEFAULT_EMBEDDER})
    if is_url(config.embedder):
        served: Embedder = plugins.embedders.get("served")(config)
        return served
    try:
        factory = plugins.embedders.get(config.embedder)
    except PluginError:
        from pathlib import Path

        if not Path(config.embedder).exists():
            raise
        found: Embedder = builtins.sentence_transformer(config.embedder)
        return found
    made: Embedder | None = factory(config)
    return made
