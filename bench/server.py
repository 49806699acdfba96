"""The server under concurrent clients, old design against new, in one run.

1, 8 and 32 clients on loopback against `overlay serve` (a separate process: the example vault,
MiniLM, the default LM), a bounded number of requests per level in a fixed mix: 70 % search,
20 % chat completions (the LM), 10 % learn (writes). Reports throughput, p50/p95 latency per
kind, errors and any "database is locked". The old design is the server as of `--old` (one
overlay behind one lock), run from a git worktree of that commit with the same interpreter.

A last row per design runs searches alone at the top level (no chat in flight): the control
that shows what the machine gives searches at that concurrency by itself.

Then, in process, the scoring scheduler: N asks at once (1, 4, 16) through the scheduler
against the same N asks one after another, as candidates scored per second; and torch's
threads for one query embedding (one thread, or the default of one per core), idle and under
a load of four busy processes.

Run: python bench/server.py [--requests 80] [--levels 1 8 32] [--old d21e3af]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import percentiles, save

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "How do I keep a sourdough starter alive?",
    "What does the float test tell me?",
    "Why is my loaf flat?",
    "How long is bulk fermentation?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plan(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    kinds = ["search"] * 7 + ["chat"] * 2 + ["learn"]
    return [rng.choice(kinds) for _ in range(n)]


async def one(http: httpx.AsyncClient, kind: str, k: int) -> tuple[str, float, str | None]:
    t0 = time.perf_counter()
    if kind == "search":
        r = await http.get("/v1/search", params={"q": QUESTIONS[k % 4], "k": 10})
    elif kind == "chat":
        body = {"model": "overlay", "messages": [{"role": "user", "content": QUESTIONS[k % 4]}]}
        r = await http.post("/v1/chat/completions", json=body)
    else:
        r = await http.post("/v1/learn", json={"text": f"Bench fact {k}: rye proofs faster warm."})
    elapsed = time.perf_counter() - t0
    return kind, elapsed, None if r.status_code == 200 else f"{r.status_code} {r.text[:120]}"


async def level(url: str, clients: int, kinds: list[str]) -> dict:
    queue = list(enumerate(kinds))
    results: list[tuple[str, float, str | None]] = []

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=600) as http:
            while queue:
                k, kind = queue.pop()
                try:
                    results.append(await one(http, kind, k))
                except httpx.HTTPError as exc:
                    results.append((kind, 0.0, f"{type(exc).__name__}: {exc}"))

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - t0
    errors = [e for _, _, e in results if e]
    by_kind = {
        kind: {"n": sum(1 for r in results if r[0] == kind),
               **percentiles([t for kk, t, e in results if kk == kind and not e] or [0.0])}
        for kind in ("search", "chat", "learn")
    }
    return {
        "clients": clients,
        "requests": len(results),
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(results) / wall, 2),
        "all": percentiles([t for _, t, e in results if not e] or [0.0]),
        "by_kind": by_kind,
        "errors": len(errors),
        "database_locked": sum("database is locked" in e for e in errors),
        "error_samples": errors[:3],
    }


def design(src: Path, levels: list[int], requests: int, create: bool) -> list[dict]:
    """Ingest the example vault and serve it with the code in `src`; the runs per level."""
    work = Path(tempfile.mkdtemp())
    db = work / "o.db"
    overlay = [sys.executable, "-c", "from overlay.cli import main; main()"]
    env = {**os.environ, "OVERLAY_DB": str(db), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(src)}
    subprocess.run([*overlay, "ingest", str(ROOT / "examples" / "vault"),
                    *(["--create"] if create else [])], env=env, check=True,
                   capture_output=True)
    port = free_port()
    server = subprocess.Popen([*overlay, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                said = server.stderr.read() if server.stderr else ""
                raise SystemExit(f"server did not start: {said}")
            time.sleep(0.2)
        httpx.post(url + "/v1/chat/completions", timeout=600,  # warm the LM's first call
                   json={"messages": [{"role": "user", "content": QUESTIONS[0]}]})
        runs = [asyncio.run(level(url, c, plan(requests, seed=c))) for c in levels]
        # the control: searches alone at the top level, with no chat in flight; the mix's
        # searches near this are not waiting for the model
        alone = asyncio.run(level(url, max(levels), ["search"] * requests))
        runs.append({**alone, "mix": "search only"})
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    return runs


def old_tree(rev: str) -> Path:
    """A worktree of `rev` (the old design), made once under the system's temp folder."""
    path = Path(tempfile.gettempdir()) / f"overlay-old-{rev}"
    if not path.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
                       check=True, capture_output=True)
    return path / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=80, help="requests per level")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--old", default="d21e3af", help="the commit of the old design")
    parser.add_argument("--asks", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    from scheduling import scheduler_throughput, thread_settings

    new = design(ROOT / "src", args.levels, args.requests, create=True)
    old = design(old_tree(args.old), args.levels, args.requests, create=False)
    save("server", {
        "mix": "70% search, 20% chat, 10% learn", "old_design": args.old,
        "runs": new, "old_runs": old,
        "scheduler": scheduler_throughput(args.asks, QUESTIONS),
        "threads": thread_settings(),
    })


if __name__ == "__main__":
    main()
