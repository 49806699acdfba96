"""Typed settings with a help text per field; validation names the bad value.

Settings are explicit objects handed to the engine; nothing reads globals behind its back.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal, TypeVar

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


DATABASE_SCHEMES = ("postgresql://", "postgres://")
# the longest text a face takes in one piece (a question, a query, a statement, a message):
# bounded before anything parses it
TEXT_CHARS = 20_000


def store_address(value: str | Path) -> Path | str:
    """A store's address as settings keep it: a database URL as written (a path would fold
    its '//'), anything else a path."""
    text = str(value)
    return text if text.startswith(DATABASE_SCHEMES) else Path(value)


def default_db_path() -> Path | str:
    """`$OVERLAY_DB` if set (a path or a postgresql:// URL), else `./.overlay/overlay.db`."""
    env = os.environ.get("OVERLAY_DB")
    return store_address(env) if env else DEFAULT_DB


class IngestConfig(BaseModel):
    """How a vault is read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extensions: tuple[str, ...] = Field(
        (".md", ".markdown", ".txt", ".json"),
        description="File suffixes read as notes (case-insensitive); a .json file is read only as "
        "a conversation export.",
    )
    max_file_bytes: int = Field(
        5_000_000, gt=0, description="Notes larger than this are skipped with a warning."
    )
    max_export_bytes: int = Field(
        2_000_000_000, gt=0,
        description="Conversation exports (.json) larger than this are skipped with a warning. "
        "An export is read one conversation at a time, so a whole ChatGPT history fits.",
    )
    max_frontmatter_bytes: int = Field(
        256_000, gt=0, description="A note whose YAML frontmatter is larger is skipped."
    )
    max_blocks: int = Field(
        10_000, gt=0,
        description="Blocks (sections, callouts, paragraphs) read from one note, or turns from "
        "one conversation of an export; past it the note or conversation keeps its first ones "
        "and a warning names it.",
    )
    max_nodes: int = Field(
        2_000_000, gt=0,
        description="Nodes one ingest writes; the file that would pass it and the files after "
        "it are skipped with one warning, and their stored versions are kept.",
    )
    frontmatter_anchors: bool = Field(
        False,
        description="Allow YAML anchors and aliases in frontmatter (off: they are how an alias "
        "bomb is built; notes rarely need them). Aliases are bounded either way.",
    )
    encoding: str | None = Field(
        None,
        description="Read every note in this encoding (e.g. latin-1) instead of guessing; a "
        "folder can say its own in a one-line `.overlay-encoding` file.",
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


class DatasetConfig(BaseModel):
    """Limits on the dataset specs (passports) that are read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_spec_bytes: int = Field(
        20_000_000, gt=0, description="A passport file larger than this is refused unread."
    )
    max_spec_nodes: int = Field(
        50_000, gt=0, description="A passport with more nodes than this is refused."
    )


class RetrieveConfig(BaseModel):
    """How candidates are found."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedder: str = Field(
        "auto",
        description="'auto': the embedder the store was made with, or 'e5' (multilingual-e5-"
        "small, Russian and English in one space) for a new one; a registered name ('e5', "
        "'minilm', 'hashing', 'none'), any sentence-transformers model path, or the URL of an "
        "OpenAI-compatible /v1/embeddings server (e.g. http://127.0.0.1:8001/v1).",
    )
    embedder_model: str | None = Field(
        None, description="The model to ask a served embedder for [default: the one it serves]."
    )
    rrf_k: int = Field(
        60, ge=1, description="Reciprocal-rank-fusion constant: larger flattens ranks."
    )
    pool: int = Field(50, ge=1, description="Hits taken from each retriever before fusion.")
    coverage_power: float = Field(
        3.0, ge=0,
        description="How fast a list's weight in fusion falls with the share of the query it "
        "covers (weight = share ** power; 0 is plain reciprocal-rank fusion): the lexical "
        "list's share is the query's words found in the notes (few, for a question in another "
        "language), the dense list's the letters its embedder reads.",
    )
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
        256, ge=10, description=("HNSW search breadth (usearch's expansion_search; on "
                                 "PostgreSQL, pgvector's hnsw.ef_search, at most 1000): higher "
                                 "is more exact and slower.")
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

    w_lm: float = Field(
        0.0,
        description="Prior weight of the LM term (per-token log-likelihood). 0: the LM earns "
        "its weight from verdicts (lm_gain); on the labelled questions any positive prior made "
        "the default model's choices worse than retrieval alone.",
    )
    lm_gain: float = Field(
        0.5, ge=0,
        description="Weight the LM term gains per bit of information its preferences carry "
        "toward the goal (measured from verdicts; at most 2 bits).",
    )
    lm_at_ask: Literal["auto", "always"] = Field(
        "auto",
        description="'auto': an ask computes the LM term only while its learned weight is "
        "above 0 (it changes nothing otherwise); the term's evidence is then computed when a "
        "verdict on the ask arrives. 'always': at every ask (docs/selector.md).",
    )
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
    candidates: int = Field(
        12, ge=1, le=200, description="Candidates taken from hybrid retrieval (at most 200)."
    )
    activated: int = Field(
        6, ge=0, le=100, description="Extra candidates reached by spreading activation."
    )
    max_question_tokens: int = Field(
        512,
        ge=8,
        le=32_768,
        description="Longest question, in the scoring model's tokens after its chat template; "
        "a longer one is refused before any model work.",
    )
    statements: int = Field(2, ge=1, description="Statements the answer is built from.")
    min_similarity: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="Relevance gate: a candidate needs this dense cosine to the question (or, "
        "with no embedder, a lexical match); below it the overlay knows nothing about it "
        "[default: the embedder's own scale: 0.3 for MiniLM, 0.83 for e5, whose cosines run "
        "higher].",
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
        description="A learned statement acts only on questions about its subject (a name or "
        "its most specific run of words), or that name at least this share of its words' "
        "specificity (IDF in the overlay) with its most specific word (docs/learning.md).",
    )
    judged_similarity: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="A verdict is evidence about its node for questions this close to the "
        "judged one (dense cosine; its weight rises from 0 here to 1 for the same question), "
        "not for every question the node serves (docs/learning.md) [default: the embedder's "
        "own scale: 0.7 for MiniLM, 0.92 for e5, whose cosines run higher].",
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
    max_tokens: int = Field(
        96, ge=1, le=4096, description="Compose mode: most tokens generated."
    )
    connectives: tuple[str, ...] = Field(
        (" and", " but", " so", " because", " then", ",", ".", ";", " also", " while"),
        description="Strict compose mode: the only words allowed besides statement continuations.",
    )
    decay: float = Field(0.5, ge=0, le=1, description="Activation kept per hop of spreading.")
    hops: int = Field(2, ge=0, le=5, description="Hops of spreading activation.")
    goal_nodes: int = Field(
        4, ge=0, le=50,
        description="Spreading activation also starts from this many of the goal's most "
        "informative nodes (positive bits toward it).",
    )
    max_steps: int = Field(
        40, ge=1, le=1000, description="Methods: most steps executed in one run."
    )
    max_visits: int = Field(
        3, ge=1, description="Methods: times one step may run before its loop is cut."
    )
    step_tokens: int = Field(
        48, ge=1, le=1024, description="Methods: most tokens generated per step (--write)."
    )

    def term_priors(self) -> dict[str, float]:
        """Each learned score term's prior weight (what verdicts move)."""
        return {"lm": self.w_lm, "retrieval": self.w_ret, "information": self.w_inf,
                "activation": self.w_act}

    def term_gains(self) -> dict[str, float]:
        """Weight a term gains per positive bit of its information (only the LM has one)."""
        return {"lm": self.lm_gain}


class Settings(BaseModel):
    """Everything the engine needs to know, in one object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    db: Path | str = Field(default_factory=default_db_path, description=(
        "The overlay store: a file's path, or a postgresql:// URL."))
    store: str = Field("sqlite", description=(
        "Registered store backend name (a postgresql:// address picks 'postgresql')."))
    ingest: IngestConfig = Field(default_factory=IngestConfig, description="Vault reading.")
    dataset: DatasetConfig = Field(default_factory=DatasetConfig, description="Dataset specs.")
    retrieve: RetrieveConfig = Field(default_factory=RetrieveConfig, description="Retrieval.")
    lm: LMConfig = Field(default_factory=LMConfig, description="Language model.")
    select: SelectConfig = Field(default_factory=SelectConfig, description="Selector.")
    threads: int | None = Field(None, ge=1, description=(
        "Cores the models (embedding, scoring) may use at most [default: $OMP_NUM_THREADS, "
        "else every core this process may run on]."))

    @field_validator("db", mode="before")
    @classmethod
    def _address(cls, value: object) -> object:
        return store_address(value) if isinstance(value, str | Path) else value

    @classmethod
    def make(cls, **values: object) -> Settings:
        """Build settings, turning pydantic's report into one ConfigError naming the field."""
        return validated(cls, values)


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServerConfig(BaseModel):
    """How the server listens, what it may touch and how much one request may take."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8765, ge=1, le=65535, description="Port.")
    token: str | None = Field(
        None, description="Required of every client (Bearer); needed to listen beyond loopback."
    )
    roots: list[Path] = Field(
        default_factory=list, description="A folder /v1/ingest may read (repeatable)."
    )
    max_body: int = Field(
        1 << 20, ge=1024, description="Largest request body, in bytes (a larger one gets 413)."
    )
    model_name: str = Field("overlay", description="The model id /v1/models lists.")
    body_seconds: float = Field(
        10.0, gt=0, description="Seconds a request's body may take to arrive; a slower "
        "client gets 408 and its connection back.",
    )
    request_seconds: float = Field(
        120.0,
        gt=0,
        description="A request's time budget in seconds; past it the model work stops, its "
        "locks are released and the client gets 503.",
    )
    ingest_seconds: float = Field(
        600.0,
        gt=0,
        description="An ingest request's time budget in seconds; past it the ingest stops "
        "between files (each file already written is kept; run it again to go on) and the "
        "client gets 503.",
    )

    def check(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(
                f"refusing to listen on {self.host} without --token: anyone who can reach it "
                "could read and change the overlay (loopback needs no token)"
            )
        if self.token is not None and len(self.token) < 8:
            raise ConfigError("--token must be at least 8 characters")
        for root in self.roots:
            if not root.is_dir():
                raise ConfigError(f"--vault {root}: no such folder")
