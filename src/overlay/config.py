"""Typed settings with a help text per field; validation names the bad value.

Settings are explicit objects handed to the engine; nothing reads globals behind its back.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from overlay.errors import ConfigError

DEFAULT_DB = Path(".overlay") / "overlay.db"


def default_db_path() -> Path:
    """`$OVERLAY_DB` if set, else `./.overlay/overlay.db`."""
    env = os.environ.get("OVERLAY_DB")
    return Path(env) if env else DEFAULT_DB


class IngestConfig(BaseModel):
    """How a vault is read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extensions: tuple[str, ...] = Field(
        (".md", ".markdown", ".txt"), description="File suffixes read as notes (case-insensitive)."
    )
    max_file_bytes: int = Field(
        5_000_000, gt=0, description="Files larger than this are skipped with a warning."
    )
    ignore_dirs: tuple[str, ...] = Field(
        (".obsidian", ".git", ".trash", "node_modules", ".overlay"),
        description="Folder names never descended into.",
    )

    @field_validator("extensions")
    @classmethod
    def _dotted(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ext in value:
            if not ext.startswith("."):
                raise ValueError(f"extension {ext!r} must start with a dot, e.g. '.md'")
        return tuple(e.lower() for e in value)


class RetrieveConfig(BaseModel):
    """How candidates are found."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedder: str = Field(
        "minilm",
        description="Registered embedder name ('minilm', 'hashing', 'none') or any "
        "sentence-transformers model path.",
    )
    rrf_k: int = Field(
        60, ge=1, description="Reciprocal-rank-fusion constant: larger flattens ranks."
    )
    pool: int = Field(50, ge=1, description="Hits taken from each retriever before fusion.")
    expand_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of a hit's fused score passed to its one-hop neighbours.",
    )
    exact_below: int = Field(
        20_000, ge=0, description="Below this many vectors dense search is exact (brute force)."
    )
    embed_batch: int = Field(64, ge=1, description="Texts per embedding batch.")
    ann_expansion: int = Field(
        256, ge=10, description="HNSW search breadth: higher is more exact and slower."
    )


class Settings(BaseModel):
    """Everything the engine needs to know, in one object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    db: Path = Field(default_factory=default_db_path, description="Path of the overlay store.")
    store: str = Field("sqlite", description="Registered store backend name.")
    ingest: IngestConfig = Field(default_factory=IngestConfig, description="Vault reading.")
    retrieve: RetrieveConfig = Field(default_factory=RetrieveConfig, description="Retrieval.")

    @classmethod
    def make(cls, **values: object) -> Settings:
        """Build settings, turning pydantic's report into one ConfigError naming the field."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"setting {where}={err.get('input')!r}: {err['msg']}") from None
