"""Many users at once: reads that return while chats are in flight, the scheduler's batched
scores equal to unbatched ones, compose answers streamed token by token to the real `openai`
client, and concurrent learns through the API all stored."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionChunk

from overlay import Overlay
from overlay.config import ServerConfig, Settings
from overlay.lm.base import Scored
from overlay.lm.hf import HFModel
from overlay.lm.scheduler import Scheduler
from overlay.retrieve.embed import SentenceTransformerEmbedder
from tests.server_helpers import live_server

ROOT = Path(__file__).resolve().parents[1]
VAULT = ROOT / "examples" / "vault"
ARTIFACTS = Path(os.environ.get("OVERLAY_ARTIFACTS", ROOT / "test-artifacts"))
QUESTIONS = ["How do I feed a starter?", "What does the float test tell me?",
             "Why is my crumb dense?", "When is bulk fermentation done?"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, smol: HFModel) -> Iterator[Overlay]:
    """The example vault behind the real default model."""
    db = tmp_path_factory.mktemp("conc") / "o.db"
    with Overlay(settings=Settings.make(db=db, retrieve={"embedder": "hashing"},
                                        select={"max_tokens": 32}), lm=smol) as ov:
        ov.ingest([VAULT])
        yield ov


@pytest.mark.slow
def test_reads_return_while_chats_are_in_flight(served: Overlay) -> None:
    """8 threads ask (compose, the real model), 8 read search, node and history pages as a
    person paging through the UI would. The reads do not queue behind the model: many return
    before the first chat does. Their p95 goes to test-artifacts/concurrency.json."""
    node = served.search("starter", k=1)[0].node_id
    chats_done: list[float] = []
    reads: list[tuple[float, float]] = []  # (finished at, seconds)
    errors: list[str] = []
    # no time budget to hit: on a loaded machine the chats may take minutes, and that is no
    # failure of what this test checks (speed is measured in bench/server.py)
    with live_server(served, ServerConfig(request_seconds=3600)) as url:
        start = time.monotonic()

        def chat(k: int) -> None:
            with httpx.Client(base_url=url, timeout=300) as http:
                answer = http.post("/v1/chat/completions", json={
                    "messages": [{"role": "user", "content": QUESTIONS[k % 4]}],
                    "overlay": {"mode": "compose"}})
                if answer.status_code != 200:
                    errors.append(f"chat {answer.status_code}: {answer.text[:80]}")
            chats_done.append(time.monotonic())

        def read() -> None:
            with httpx.Client(base_url=url, timeout=300) as http:
                while len(chats_done) < 8:
                    for path, params in (("/v1/search", {"q": "levain"}),
                                         (f"/v1/nodes/{node}", {}), ("/v1/history", {})):
                        t0 = time.monotonic()
                        got = http.get(path, params=params)
                        reads.append((time.monotonic(), time.monotonic() - t0))
                        if got.status_code != 200:
                            errors.append(f"read {path} {got.status_code}")
                        time.sleep(0.1)

        with ThreadPoolExecutor(16) as pool:
            jobs = [pool.submit(chat, k) for k in range(8)] + [pool.submit(read)
                                                             for _ in range(8)]
            for job in jobs:
                job.result()
    assert errors == []
    first_chat = min(chats_done)
    early = [s for at, s in reads if at < first_chat]
    assert len(early) >= 8, f"only {len(early)} reads returned before the first chat did"
    latencies = sorted(s for _, s in reads)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "concurrency.json").write_text(json.dumps({
        "reads": len(reads), "reads_p95_ms": round(1000 * p95, 1),
        "reads_before_first_chat": len(early), "first_chat_s": round(first_chat - start, 1)}))


WORDS = ["starter", " levain", " flour", " water", " rye", " crumb", " the", " a", " is",
         " warm", " sour", ".", ",", " bubbles", " dough"]


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(QUESTIONS),
                          st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6)
                                   .map("".join), min_size=1, max_size=5)),
                min_size=1, max_size=6))
def test_batched_scores_equal_unbatched(smol: HFModel,
                                        requests: list[tuple[str, list[str]]]) -> None:
    """Any mix of concurrent requests: the scheduler packs them into shared passes, and each
    gets the numbers it would get alone (|Δ| ≤ 1e-4)."""
    alone = [smol.score(prompt, conts) for prompt, conts in requests]
    scheduler = Scheduler(smol)
    try:
        barrier = threading.Barrier(len(requests))

        def ask(i: int) -> list[Scored]:
            barrier.wait()
            return list(scheduler.score(*requests[i]))

        with ThreadPoolExecutor(len(requests)) as pool:
            together = list(pool.map(ask, range(len(requests))))
    finally:
        scheduler.close()
    for mine, ref in zip(together, alone, strict=True):
        for got, want in zip(mine, ref, strict=True):
            assert got.token_ids == want.token_ids
            deltas = [abs(a - b) for a, b in zip(got.logprobs, want.logprobs, strict=True)]
            assert max(deltas, default=0.0) <= 1e-4


@pytest.mark.slow
def test_compose_answers_stream_token_by_token(served: Overlay) -> None:
    question = [{"role": "user", "content": "How do I feed a starter?"}]
    compose = {"overlay": {"mode": "compose"}}
    with live_server(served) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        whole = client.chat.completions.create(model="overlay", messages=question,  # type: ignore[arg-type]
                                               extra_body=compose, seed=7)
        stream = client.chat.completions.create(model="overlay", messages=question,  # type: ignore[arg-type]
                                                extra_body=compose, seed=7, stream=True)
        chunks = [c for c in cast("Iterator[ChatCompletionChunk]", stream) if c.choices]
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) > 3, pieces
    assert "".join(pieces) == whole.choices[0].message.content
    assert (chunks[-1].model_extra or {})["overlay"]["spans"]


@pytest.mark.slow
def test_concurrent_learns_through_the_api_are_all_stored(
    tmp_path: Path, minilm: SentenceTransformerEmbedder
) -> None:
    """4 clients × 25 learns with the real MiniLM embedder: none is refused, all are stored
    with their vectors."""
    settings_ = Settings.make(db=tmp_path / "o.db", retrieve={"embedder": "minilm"})
    with Overlay(settings=settings_, embedder=minilm) as ov:
        with live_server(ov) as url:

            def learner(k: int) -> list[int]:
                with httpx.Client(base_url=url, timeout=120) as http:
                    return [http.post("/v1/learn", json={
                        "text": f"Client {k} learned fact {i} about the levain."}).status_code
                        for i in range(25)]

            with ThreadPoolExecutor(4) as pool:
                codes = [c for batch in pool.map(learner, range(4)) for c in batch]
        assert codes == [200] * 100
        stats = ov.stats()
        assert stats["nodes"] == 100 and stats["vectors"] == 100
        assert len(ov.search("Client 3 learned fact 24", k=3)) > 0
