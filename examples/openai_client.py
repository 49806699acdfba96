"""Start `overlay serve` on an overlay, ask it through the official `openai` client (plain and
streamed), print the answer with its citations, and stop the server.

Run: python examples/openai_client.py OVERLAY_DB [PORT]
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import openai

db = sys.argv[1]
port = sys.argv[2] if len(sys.argv) > 2 else "8765"
url = f"http://127.0.0.1:{port}"
server = subprocess.Popen(
    [sys.executable, "-c", "from overlay.cli import main; main()", "serve", "--db", db,
     "--port", port],
    stdout=subprocess.DEVNULL,
)
try:
    for _ in range(240):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        raise SystemExit(f"the server did not start on {url}")
    client = openai.OpenAI(base_url=url + "/v1", api_key="not-needed-on-loopback")
    question = "What does the float test tell me?"
    reply = client.chat.completions.create(
        model="overlay", messages=[{"role": "user", "content": question}]
    )
    extra = (reply.model_extra or {})["overlay"]
    print(f"Q: {question}\nA: {reply.choices[0].message.content}")
    for i, c in enumerate(extra["citations"], 1):
        print(f"  [{i}] {c['title']}  {c['source']}:{c['line']}  ({c['node']})")
    print(f"trace {extra['trace_id']}: {url}/#/trace/{extra['trace_id']}")
    stream = client.chat.completions.create(
        model="overlay", stream=True,
        messages=[{"role": "user", "content": "How warm should bulk fermentation be?"}],
    )
    print("streamed:", "".join(c.choices[0].delta.content or "" for c in stream if c.choices))
finally:
    server.send_signal(signal.SIGINT)
    server.wait(timeout=60)
