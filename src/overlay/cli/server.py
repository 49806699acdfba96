"""`overlay serve`: the OpenAI-compatible API, the overlay API and the web UI in one process."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from overlay.cli.app import DbOpt, EmbedderOpt, JsonOpt, app, emit, model_options, open_overlay, out


@app.command()
@model_options
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8765,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="OVERLAY_TOKEN", help="Required of every client "
                     "(Bearer); needed to listen beyond loopback. [env: OVERLAY_TOKEN]"),
    ] = None,
    vault: Annotated[
        list[Path] | None,
        typer.Option("--vault", help="A folder /v1/ingest may read (repeatable)."),
    ] = None,
    max_body: Annotated[
        int, typer.Option("--max-body", min=1024, help="Largest request body, in bytes.")
    ] = 1 << 20,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    embedder: EmbedderOpt = None,
    models: dict[str, str] | None = None,
) -> None:
    """Serve the overlay: /v1/chat/completions for chat clients, its API, and a web UI at /."""
    from overlay.server import ServerConfig
    from overlay.server import serve as run

    config = ServerConfig(host=host, port=port, token=token,
                          roots=[v.resolve() for v in vault or []], max_body=max_body)
    config.check()
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    with open_overlay(db, embedder=embedder, models=models) as overlay:
        if json_out:
            roots = [str(r) for r in config.roots]
            emit({"url": url, "db": str(overlay.path), "vault_roots": roots})
        else:
            out.print(f"serving {overlay.path} at [bold]{url}[/] (Ctrl-C stops)")
        run(overlay, config)
