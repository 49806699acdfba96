"""The built-in backends, registered through the same hooks a third-party plugin uses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from overlay.config import LMConfig, RetrieveConfig
from overlay.hookspecs import hookimpl


@hookimpl
def register_stores(register: Callable[[str, Callable[..., Any]], None]) -> None:
    from overlay.store.sqlite import SQLiteStore

    register("sqlite", SQLiteStore)
    register("postgresql", _postgres)


def _postgres(url: str | Path, **options: Any) -> Any:
    """A PostgreSQL store; its driver is an extra (`pip install 'overlay[postgres]'`)."""
    try:
        from overlay.store.postgres.store import PostgresStore
    except ImportError as exc:
        from overlay.errors import StoreError

        raise StoreError(f"a PostgreSQL store needs {exc.name}: pip install "
                         "'overlay[postgres]'") from None
    return PostgresStore(url, **options)


def _minilm(config: RetrieveConfig) -> Any:
    from overlay.retrieve.embed import SentenceTransformerEmbedder, packaged_minilm

    return SentenceTransformerEmbedder(packaged_minilm(), name="all-MiniLM-L6-v2",
                                       scripts=frozenset({"latin"}))  # trained on English


def _e5(config: RetrieveConfig) -> Any:
    from overlay.retrieve.embed import E5Embedder

    return E5Embedder()


# the registered name of each built-in embedder, by the name its vectors are stored under: a
# store opened with the embedder 'auto' is searched with the one it was made with
STORED_AS = {"multilingual-e5-small-q4": "e5", "all-MiniLM-L6-v2": "minilm",
             "hashing-256": "hashing"}


def _hashing(config: RetrieveConfig) -> Any:
    from overlay.retrieve.embed import HashingEmbedder

    return HashingEmbedder()


def _none(config: RetrieveConfig) -> None:
    return None


def _served_embedder(config: RetrieveConfig) -> Any:
    """`config.embedder` is the URL of an OpenAI-compatible /v1/embeddings server."""
    from overlay.retrieve.embed import ServedEmbedder
    from overlay.served import Server

    return ServedEmbedder(Server(config.embedder, config.embedder_model), config.embed_batch)


def sentence_transformer(path: str | Path) -> Any:
    """An embedder from any local sentence-transformers folder (not registered by name)."""
    from overlay.retrieve.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(path)


@hookimpl
def register_embedders(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("e5", _e5)
    register("minilm", _minilm)
    register("hashing", _hashing)
    register("none", _none)
    register("served", _served_embedder)


def hf_model(config: LMConfig, path: str | Path) -> Any:
    """Any local Hugging Face causal LM folder or cached hub id (not registered by name)."""
    from overlay.lm.hf import HFModel

    return HFModel(
        path,
        device=config.device,
        dtype=config.dtype,
        batch_tokens=config.batch_tokens,
        adapter=config.adapter,
    )


def _smollm2(config: LMConfig) -> Any:
    from overlay.lm.hf import load_default

    return load_default(
        config.cache_dir,
        device=config.device,
        dtype=config.dtype,
        batch_tokens=config.batch_tokens,
        adapter=config.adapter,
    )


def _served(config: LMConfig) -> Any:
    """`config.model` is the URL of an OpenAI-compatible server (vLLM, SGLang, …)."""
    from overlay.lm.served import ServedModel
    from overlay.served import Server

    return ServedModel(Server(config.model, config.model_name, config.api_key_env,
                              config.timeout, config.retries))


def _fake(config: LMConfig) -> Any:
    from overlay.errors import ConfigError
    from overlay.lm.fake import FakeLM

    if config.adapter is not None:
        raise ConfigError("the fake LM takes no adapter")
    return FakeLM()


@hookimpl
def register_lms(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("smollm2", _smollm2)
    register("fake", _fake)
    register("served", _served)
