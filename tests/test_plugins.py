"""Backends register through one hook; registration validates and says the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from overlay import ConfigError, Overlay, PluginError, Settings, hookimpl, load_plugins
from overlay.retrieve import HashingEmbedder
from overlay.store import SQLiteStore


class TinyEmbedderPlugin:
    @hookimpl
    def register_embedders(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        register("tiny", lambda config: HashingEmbedder(16))


class CountingStorePlugin:
    opened: ClassVar[list[Path]] = []

    @hookimpl
    def register_stores(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        def factory(path: Path, create: bool = True) -> SQLiteStore:
            self.opened.append(path)
            return SQLiteStore(path, create=create)

        register("counting", factory)


def test_builtins_come_through_the_same_hook() -> None:
    plugins = load_plugins(entry_points=False)
    assert {"sqlite"} <= set(plugins.stores.factories)
    assert {"minilm", "hashing", "none"} <= set(plugins.embedders.factories)


def test_a_plugin_backend_is_used(tmp_path: Path, vault: Path) -> None:
    plugins = load_plugins(TinyEmbedderPlugin(), CountingStorePlugin(), entry_points=False)
    settings = Settings.make(db=tmp_path / "o.db", store="counting", retrieve={"embedder": "tiny"})
    with Overlay(settings=settings, plugins=plugins) as ov:
        ov.ingest([vault / "Hooch.md"])
        assert ov.stats()["vectors"] > 0 and ov.embedder is not None and ov.embedder.dim == 16
    assert CountingStorePlugin.opened == [tmp_path / "o.db"]


def test_registration_errors_say_the_fix() -> None:
    class Bad:
        @hookimpl
        def register_embedders(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
            register("Bad Name!", lambda c: None)

    with pytest.raises(PluginError, match="lower-case letters"):
        load_plugins(Bad(), entry_points=False)

    class Dup:
        @hookimpl
        def register_embedders(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
            register("hashing", lambda c: None)

    with pytest.raises(PluginError, match="already registered; pick another name"):
        load_plugins(Dup(), entry_points=False)

    class NotCallable:
        @hookimpl
        def register_stores(self, register: Callable[[str, Any], None]) -> None:
            register("x", 42)

    with pytest.raises(PluginError, match="not callable"):
        load_plugins(NotCallable(), entry_points=False)


def test_unknown_backend_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="unknown store 'nope'; registered: postgresql, sqlite"):
        Overlay(settings=Settings.make(db=tmp_path / "o.db", store="nope"))


def test_config_errors_name_the_bad_value() -> None:
    with pytest.raises(ConfigError, match=r"retrieve.rrf_k=0"):
        Settings.make(retrieve={"rrf_k": 0})
    with pytest.raises(ConfigError, match=r"ingest.extensions=.*must start with a dot"):
        Settings.make(ingest={"extensions": ["md"]})
    with pytest.raises(ConfigError, match="colour"):
        Settings.make(colour="red")
