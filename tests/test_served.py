"""A real vLLM server behind the overlay: its scores equal the in-process model's, asks,
choices and method runs go through it end to end with citations, strict mode is constrained
by the server, errors are one line and write nothing, a served MiniLM gives the in-process
vectors, and `overlay lm check` tells a server that can score from one that cannot."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from overlay import ModelError, Overlay, Settings, cli
from overlay.config import LMConfig
from overlay.lm.base import SCORE
from overlay.lm.hf import HFModel, cached_gguf, default_cache_dir, packaged_gguf
from overlay.plugins import load_lm, load_plugins
from overlay.retrieve.embed import SentenceTransformerEmbedder, packaged_minilm
from overlay.select.decoding import strict_pattern
from tests.served_helpers import busy_then_ok, free_port, no_logprobs_server, vllm_server

pytestmark = [pytest.mark.served, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
VAULT = ROOT / "examples" / "vault"
runner = CliRunner()


@pytest.fixture(scope="module")
def vllm_url(tmp_path_factory: pytest.TempPathFactory, smol: HFModel) -> Iterator[str]:
    """SmolLM2 (the folder the default model is converted into) served by vLLM."""
    folder = cached_gguf(packaged_gguf(), default_cache_dir())
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    with vllm_server(folder, log, "--max-model-len", "2048") as url:
        yield url


@pytest.fixture(scope="module")
def served(vllm_url: str) -> object:
    return load_lm(LMConfig(model=vllm_url), load_plugins())


def run(*args: str) -> str:
    done = runner.invoke(cli.app, list(args), catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done.stdout


def fails(args: list[str], monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> str:
    """The one-line error `overlay ARGS` ends with (exit 1, no traceback)."""
    monkeypatch.setattr(sys, "argv", ["overlay", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    err = capsys.readouterr().err
    assert info.value.code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------- scores
TEXTS = [p.read_text(encoding="utf-8").split("\n\n")[-1].strip()[:300]
         for p in sorted(VAULT.glob("*.md"))[:10]]


def test_scores_equal_the_in_process_model(served: object, smol: HFModel) -> None:
    assert SCORE in served.features and served.regex  # type: ignore[attr-defined]
    messages = [{"role": "user", "content": "Tell me about sourdough."}]
    prompt = served.chat_template(messages)  # type: ignore[attr-defined]
    assert prompt == smol.chat_template(messages)
    here, there = smol.score(prompt, TEXTS), served.score(prompt, TEXTS)  # type: ignore[attr-defined]
    for a, b in zip(here, there, strict=True):
        assert a.token_ids == b.token_ids and len(a.logprobs) == len(b.logprobs) > 0
        assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs, strict=True)) <= 1e-3
    question = smol.chat_template([{"role": "user", "content": "How do I keep a starter alive?"}])
    conts = [t[:80] for t in TEXTS] + [" Feed it.", " Bake it.", " Water.", "No.", " 42",
                                       " Keep it warm and feed it daily."]
    assert len(conts) == 16
    rank_here = np.argsort([-s.normalised() for s in smol.score(question, conts)])
    rank_there = np.argsort([-s.normalised() for s in served.score(question, conts)])  # type: ignore[attr-defined]
    assert list(rank_here) == list(rank_there)


# -------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = str(tmp_path_factory.mktemp("served-store") / "o.db")
    run("ingest", str(VAULT), "--db", db, "--create", "--embedder", "hashing")
    return db


def test_ask_choose_and_run_through_the_served_model(vllm_url: str, store: str) -> None:
    common = ["--db", store, "--embedder", "hashing", "--model", vllm_url, "--json"]
    trace = json.loads(run("ask", "How do I keep a sourdough starter alive?", *common))
    assert trace["known"] and len(trace["spans"]) == 2 and all(s["nodes"] for s in trace["spans"])
    assert trace["settings"]["lm"]["score"]["backend"] == "served"
    assert trace["model"].endswith("@" + vllm_url.split("//")[1].removesuffix("/v1"))
    composed = json.loads(run("ask", "What does the float test tell me?", "--mode", "compose",
                              *common))
    assert composed["answer"] and "".join(s["text"] for s in composed["spans"]) == \
        composed["answer"]
    chosen = json.loads(run("choose", "To check a levain, drop a spoonful of it into",
                            "-o", "water and see if it floats", "-o", "a hot oven", *common))
    best = next(c for c in chosen["candidates"] if c["chosen"])
    assert best["text"] == "water and see if it floats" and chosen["spans"][0]["nodes"]
    ran = json.loads(run("run", "Bake a sourdough loaf", "--input",
                         "The levain floats in water; the dough has grown by half.", *common))
    assert [s["number"] for s in ran["steps"]][:3] == [1, 2, 3]
    assert ran["settings"]["lm"]["write"]["backend"] == "served"


def test_strict_answers_are_only_note_text_and_connectives(vllm_url: str, store: str) -> None:
    trace = json.loads(run("ask", "How do I feed a sourdough starter?", "--mode", "compose",
                           "--strict", "--db", store, "--embedder", "hashing", "--model",
                           vllm_url, "--json"))
    chosen = [c["text"] for c in trace["candidates"] if c["chosen"]]
    connectives = Settings().select.connectives
    assert trace["answer"]
    assert re.fullmatch(strict_pattern(chosen, connectives), trace["answer"]), trace["answer"]
    assert {s["origin"] for s in trace["spans"]} <= {"overlay", "connective"}


# ------------------------------------------------------------------- errors
def test_errors_are_one_line_and_write_nothing(
    vllm_url: str, store: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = json.loads(run("stats", "--db", store, "--json"))["events"]
    ask = ["ask", "How do I keep a starter alive?", "--db", store, "--embedder", "hashing"]
    down = f"http://127.0.0.1:{free_port()}/v1"
    assert "is the model server running?" in fails([*ask, "--model", down], monkeypatch, capsys)
    wrong = fails([*ask, "--model", vllm_url, "--model-name", "gpt-9"], monkeypatch, capsys)
    assert "not 'gpt-9'" in wrong and "--model-name" in wrong
    long = ["ask", "starter " * 2500, "--db", store, "--embedder", "hashing"]
    assert "max_question_tokens" in fails([*long, "--model", vllm_url], monkeypatch, capsys)
    roomy = Settings.make(db=store, retrieve={"embedder": "hashing"}, lm={"model": vllm_url},
                          select={"max_question_tokens": 8192, "lm_at_ask": "always"})
    with Overlay(settings=roomy, create=False) as ov, pytest.raises(ModelError, match="context"):
        ov.ask("starter " * 2500)  # within our limit, past the server's context
    assert json.loads(run("stats", "--db", store, "--json"))["events"] == before
    with busy_then_ok(vllm_url, failures=2) as flaky:  # two 503s, then the real answer
        trace = json.loads(run(*ask, "--model", flaky, "--json"))
    assert trace["known"]


def test_a_server_that_cannot_score_is_refused_and_can_still_write(
    store: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with no_logprobs_server() as url:
        found = json.loads(run("lm", "check", "--model", url, "--json"))
        assert found["prompt_logprobs"] is False and "--score-model" in found["plan"]["scoring"]
        ask = ["ask", "How do I feed a starter?", "--db", store, "--embedder", "hashing",
               "--model", url]
        assert "--score-model" in fails(ask, monkeypatch, capsys)
        trace = json.loads(run(*ask, "--score-model", "smollm2", "--mode", "compose", "--json"))
    assert trace["settings"]["lm"]["score"]["backend"] == "transformers"
    assert trace["settings"]["lm"]["write"]["backend"] == "served"
    assert trace["answer"].startswith("Keep the starter warm")


def test_lm_check_on_vllm(vllm_url: str) -> None:
    found = json.loads(run("lm", "check", "--model", vllm_url, "--json"))
    assert found["prompt_logprobs"] and found["regex"] and found["context"] == 2048
    assert "server's constrained decoding" in found["plan"]["strict"]
    text = run("lm", "check", "--model", vllm_url)
    assert "prompt logprobs" in text and "scored here" in text


# --------------------------------------------------------------- embeddings
def test_a_served_minilm_gives_the_same_vectors_and_search(
    tmp_path: Path, minilm: SentenceTransformerEmbedder
) -> None:
    with vllm_server(packaged_minilm(), tmp_path / "emb.log", "--runner", "pooling",
                     "--served-model-name", "all-MiniLM-L6-v2", kv_gib=1) as url:
        texts = [*TEXTS, "Харкевич и ценность информации", "How warm should the kitchen be?"]
        here = minilm.embed(texts)
        served = Overlay(settings=Settings.make(db=tmp_path / "s.db", retrieve={"embedder": url}))
        there = served.embedder.embed(texts)  # type: ignore[union-attr]
        assert (here * there).sum(1).min() >= 0.999
        local = Overlay(settings=Settings.make(db=tmp_path / "l.db"), embedder=minilm)
        for ov in (served, local):
            ov.ingest([VAULT])
        for query in ("how do I keep a sourdough starter alive", "is my dough ready to bake",
                      "what makes bread sour"):
            assert [h.node_id for h in served.search(query, 10)] == \
                [h.node_id for h in local.search(query, 10)]
        served.close()
        local.close()
    gone = Overlay(settings=Settings.make(db=tmp_path / "x.db", retrieve={"embedder": url}))
    with pytest.raises(ModelError, match="is the model server running"):
        gone.search("starter")
