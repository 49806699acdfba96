"""`overlay serve`: the OpenAI-compatible API, the overlay API and the web UI in one process."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from overlay.cli.app import (
    DbOpt,
    EmbedderOpt,
    JsonOpt,
    ThreadsOpt,
    app,
    emit,
    model_options,
    open_overlay,
    out,
)
from overlay.cli.options import option
from overlay.config import ServerConfig


@app.command()
@model_options
def serve(
    host: Annotated[str, option(ServerConfig, "host")] = "127.0.0.1",
    port: Annotated[int, option(ServerConfig, "port")] = 8765,
    token: Annotated[
        str | None, option(ServerConfig, "token", "--token", envvar="OVERLAY_TOKEN")
    ] = None,
    vault: Annotated[list[Path] | None, option(ServerConfig, "roots", "--vault")] = None,
    max_body: Annotated[int, option(ServerConfig, "max_body")] = 1 << 20,
    request_seconds: Annotated[float, option(ServerConfig, "request_seconds")] = 120.0,
    ingest_seconds: Annotated[float, option(ServerConfig, "ingest_seconds")] = 600.0,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
    threads: ThreadsOpt = None,
    models: dict[str, str] | None = None,
) -> None:
    """Serve the overlay: /v1/chat/completions for chat clients, its API, and a web UI at /."""
    from overlay.config import validated
    from overlay.server import serve as run

    config = validated(ServerConfig, {"host": host, "port": port, "token": token,
                                      "roots": [v.resolve() for v in vault or []],
                                      "max_body": max_body, "request_seconds": request_seconds,
                                      "ingest_seconds": ingest_seconds})
    config.check()
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    with open_overlay(db, embedder=embedder, models=models, threads=threads) as overlay:
        if json_out:
            roots = [str(r) for r in config.roots]
            emit({"url": url, "db": str(overlay.path), "vault_roots": roots})
        else:
            out.print(f"serving {overlay.path} at [bold]{url}[/] (Ctrl-C stops)")
        run(overlay, config)
