"""The built-in backends, registered through the same hooks a third-party plugin uses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from overlay.config import RetrieveConfig
from overlay.plugins import hookimpl


@hookimpl
def register_stores(register: Callable[[str, Callable[..., Any]], None]) -> None:
    from overlay.store.sqlite import SQLiteStore

    register("sqlite", SQLiteStore)


def _minilm(config: RetrieveConfig) -> Any:
    from overlay.retrieve.embed import SentenceTransformerEmbedder, packaged_minilm

    return SentenceTransformerEmbedder(packaged_minilm(), name="all-MiniLM-L6-v2")


def _hashing(config: RetrieveConfig) -> Any:
    from overlay.retrieve.embed import HashingEmbedder

    return HashingEmbedder()


def _none(config: RetrieveConfig) -> None:
    return None


def sentence_transformer(path: str | Path) -> Any:
    """An embedder from any local sentence-transformers folder (not registered by name)."""
    from overlay.retrieve.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(path)


@hookimpl
def register_embedders(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("minilm", _minilm)
    register("hashing", _hashing)
    register("none", _none)
