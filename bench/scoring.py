"""Shared-prefix scoring vs naive per-candidate scoring on the default model (CPU).

A ≈400-token prompt (the example vault's notes) and K = 8 / 32 / 128 candidates of ≈12 tokens.
Naive = one full forward pass of prompt+candidate per candidate (lm-evaluation-harness's way);
shared = the prompt once, candidates packed over its KV cache. Reports the speed ratio, the
largest |Δ logprob|, the FLOP-bound ratio (tokens processed naive / shared), and shared time as
a multiple of the machine's prefill bound (prompt + candidate tokens at 385 tokens/s, the
135M model's limit at ≈104 GFLOPS on this 2-core machine).

(Named scoring.py, not select.py: a file named select.py in bench/ would shadow the standard
library's `select` module for every script run from this folder.)

Run: python bench/scoring.py [--ks 8,32,128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import save
from overlay.lm.hf import load_default

os.environ.setdefault("HF_HUB_OFFLINE", "1")
VAULT = Path(__file__).resolve().parents[1] / "examples" / "vault"
BOUND_TOKENS_PER_S = 385.0


def corpus() -> list[str]:
    text = " ".join(p.read_text() for p in sorted(VAULT.glob("*.md")))
    text = re.sub(r"---.*?---|\[\[|\]\]|[#>*`]", " ", text, flags=re.S)
    return text.split()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ks", default="8,32,128")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    lm = load_default()
    words = corpus()
    rng = random.Random(1)
    start = rng.randrange(len(words) - 400)
    prompt_words = words[start : start + 300]
    prompt = " ".join(prompt_words)
    while len(lm.encode(prompt)) < 400:
        prompt_words.append(words[(start + len(prompt_words)) % len(words)])
        prompt = " ".join(prompt_words)
    n_prompt = len(lm.encode(prompt))
    lm.score(prompt, [" warm up"])  # first call pays one-time setup
    runs = []
    for k in [int(x) for x in args.ks.split(",")]:
        cands = []
        for _ in range(k):
            at = rng.randrange(len(words) - 12)
            cands.append(" " + " ".join(words[at : at + 9]))
        lens = [len(lm.encode(c)) for c in cands]
        shared_s = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fast = lm.score(prompt, cands)
            shared_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        naive = lm.score_naive(prompt, cands)
        naive_s = time.perf_counter() - t0
        delta = max(
            abs(a - b)
            for f, n in zip(fast, naive, strict=True)
            for a, b in zip(f.logprobs, n.logprobs, strict=True)
        )
        shared = min(shared_s)
        cand_tokens = sum(lens)
        runs.append(
            {
                "k": k,
                "prompt_tokens": n_prompt,
                "mean_candidate_tokens": round(cand_tokens / k, 1),
                "naive_s": round(naive_s, 3),
                "shared_s": round(shared, 3),
                "speedup": round(naive_s / shared, 2),
                "flop_bound_ratio": round(
                    k * (n_prompt + cand_tokens / k) / (n_prompt + cand_tokens), 2
                ),
                "max_abs_delta_logprob": float(f"{delta:.2e}"),
                "shared_over_prefill_bound": round(
                    shared / ((n_prompt + cand_tokens) / BOUND_TOKENS_PER_S), 2
                ),
            }
        )
        print(runs[-1], flush=True)
    save("scoring", {"model": lm.name, "threads": os.cpu_count(), "runs": runs})


if __name__ == "__main__":
    main()
