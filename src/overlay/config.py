"""Typed settings with a help text per field; validation names the bad value.

Settings are explicit objects handed to the engine; nothing reads globals behind its back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from overlay.errors import ConfigError

DEFAULT_DB = Path(".overlay") / "overlay.db"
M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], values: dict[str, Any]) -> M:
    """`model` from `values`, turning pydantic's report into one ConfigError naming the field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"setting {where}={err.get('input')!r}: {err['msg']}") from None


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
        description="Registered embedder name ('minilm', 'hashing', 'none'), any "
        "sentence-transformers model path, or the URL of an OpenAI-compatible /v1/embeddings "
        "server (e.g. http://127.0.0.1:8001/v1).",
    )
    embedder_model: str | None = Field(
        None, description="The model to ask a served embedder for [default: the one it serves]."
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


class LMConfig(BaseModel):
    """Which language model scores and writes, and where."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(
        "smollm2",
        description="Registered LM name ('smollm2', 'fake'), a local Hugging Face model folder "
        "or cached hub id (e.g. a Qwen checkpoint), or the URL of an OpenAI-compatible server "
        "(e.g. http://127.0.0.1:8000/v1: vLLM, SGLang, llama.cpp, Ollama).",
    )
    model_name: str | None = Field(
        None, description="The model to ask a served LM for [default: the one it serves]."
    )
    score_model: str | None = Field(
        None,
        description="The LM that scores candidates, if not --model: e.g. smollm2 in process "
        "while a server that returns no prompt log-probabilities writes.",
    )
    write_model: str | None = Field(
        None, description="The LM that writes (compose mode, method steps), if not --model."
    )
    api_key_env: str = Field(
        "OVERLAY_API_KEY",
        description="Environment variable holding the API key for served models and embedders "
        "(a key is never given as a flag).",
    )
    timeout: float = Field(120.0, gt=0, description="Seconds to wait for a served model.")
    retries: int = Field(
        4, ge=0, le=10, description="Retries, with backoff, when a server answers 429 or 503."
    )
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'.")
    dtype: str = Field(
        "auto", description="'auto' (float32 on CPU, bfloat16 on CUDA), 'float32', 'bfloat16'."
    )
    batch_tokens: int = Field(
        1024, ge=16, description="Continuation tokens packed into one scoring pass."
    )
    cache_dir: Path | None = Field(
        None,
        description="Where converted models are kept [default: $OVERLAY_CACHE or "
        "~/.cache/overlay].",
    )
    adapter: Path | None = Field(
        None, description="A LoRA adapter folder (`overlay train lora`) applied to the model."
    )

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if value not in ("auto", "cpu") and not value.startswith("cuda"):
            raise ValueError(f"device {value!r} is not 'auto', 'cpu' or 'cuda[:N]'")
        return value

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str) -> str:
        if value not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype {value!r} is not auto, float32, bfloat16 or float16")
        return value


class SelectConfig(BaseModel):
    """How the selector weighs and picks candidates (docs/design.md, "The selector")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    w_lm: float = Field(4.0, description="Weight of the LM term (per-token log-likelihood).")
    pmi: bool = Field(
        True,
        description="LM term = log P(c | question) − log P(c | no question), per token, so "
        "statements likely anywhere do not win; False uses log P(c | question) alone.",
    )
    w_ret: float = Field(2.0, description="Weight of the normalised retrieval score (0..1).")
    w_inf: float = Field(
        1.0, description="Weight of Kharkevich information toward the goal (bits)."
    )
    w_act: float = Field(0.5, description="Weight of spreading activation (0..1).")
    alpha: float = Field(
        1.0, ge=0, le=1, description="Length normalisation: log P / len^alpha (1 = mean per token)."
    )
    temperature: float = Field(
        0.0, ge=0, description="0 picks the argmax; above 0 samples from softmax(score / T)."
    )
    seed: int | None = Field(None, description="Seed for temperature sampling (None: random).")
    candidates: int = Field(12, ge=1, description="Candidates taken from hybrid retrieval.")
    activated: int = Field(6, ge=0, description="Extra candidates reached by spreading activation.")
    statements: int = Field(2, ge=1, description="Statements the answer is built from.")
    min_similarity: float = Field(
        0.3,
        ge=-1,
        le=1,
        description="Relevance gate: a candidate needs this dense cosine to the question (or, "
        "with no embedder, a lexical match); below it the overlay knows nothing about it.",
    )
    support_first: bool = Field(
        True,
        description="Choice grain: an option that a relevant overlay statement contains wins "
        "over any LM preference (the LM breaks ties); False weighs support by w_ret.",
    )
    about_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A learned statement acts only on questions that name at least this share "
        "of its words' specificity (IDF in the overlay): what it is about.",
    )
    max_chars: int = Field(
        400, ge=40, description="A candidate's text is cut to this many characters for scoring."
    )
    lam: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Compose mode: share of the next-token distribution given to "
        "continuations of the chosen statements (kNN-LM interpolation weight).",
    )
    max_tokens: int = Field(96, ge=1, description="Compose mode: most tokens generated.")
    connectives: tuple[str, ...] = Field(
        (" and", " but", " so", " because", " then", ",", ".", ";", " also", " while"),
        description="Strict compose mode: the only words allowed besides statement continuations.",
    )
    decay: float = Field(0.5, ge=0, le=1, description="Activation kept per hop of spreading.")
    hops: int = Field(2, ge=0, le=5, description="Hops of spreading activation.")
    max_steps: int = Field(40, ge=1, description="Methods: most steps executed in one run.")
    max_visits: int = Field(
        3, ge=1, description="Methods: times one step may run before its loop is cut."
    )
    step_tokens: int = Field(48, ge=1, description="Methods: most tokens generated per step.")


class Settings(BaseModel):
    """Everything the engine needs to know, in one object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    db: Path = Field(default_factory=default_db_path, description="Path of the overlay store.")
    store: str = Field("sqlite", description="Registered store backend name.")
    ingest: IngestConfig = Field(default_factory=IngestConfig, description="Vault reading.")
    retrieve: RetrieveConfig = Field(default_factory=RetrieveConfig, description="Retrieval.")
    lm: LMConfig = Field(default_factory=LMConfig, description="Language model.")
    select: SelectConfig = Field(default_factory=SelectConfig, description="Selector.")

    @classmethod
    def make(cls, **values: object) -> Settings:
        """Build settings, turning pydantic's report into one ConfigError naming the field."""
        return validated(cls, values)
