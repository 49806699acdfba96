"""Moving a whole overlay between stores (`overlay store copy SRC DST`): SQLite to PostgreSQL
and back, keys, event ids and counts as they were (`overlay.store.copy`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from overlay.config import Settings, store_address
from overlay.errors import StoreError
from overlay.plugins import Plugins, load_plugins, open_store
from overlay.progress import Progress


def copy_store(source: Path | str, target: Path | str, *, plugins: Plugins | None = None,
               settings: Settings | None = None, progress: Progress | None = None
               ) -> dict[str, Any]:
    """Copy every row of the store at `source` into a new (or empty) store at `target`, in
    one transaction there; returns where from, where to, and the rows copied per table."""
    plugins = plugins or load_plugins()
    backend = (settings or Settings.make()).store
    src, dst = store_address(source), store_address(target)
    if isinstance(src, Path) and not src.exists():
        raise StoreError(f"no overlay store at {src}")
    if str(src) == str(dst):
        raise StoreError(f"{src} is both the source and the target of the copy")
    if isinstance(dst, Path) and dst.exists() and dst.stat().st_size:
        raise StoreError(f"{dst} already exists: copy into a new store")
    made = isinstance(dst, Path) and not dst.exists()
    reader = open_store(plugins, backend, src, create=False, readonly=True)
    try:
        writer = open_store(plugins, backend, dst, create=True)
        try:
            with reader.reading():
                rows = writer.restore(reader, progress)
        except BaseException:
            writer.close()
            if made and isinstance(dst, Path):  # no half-made file is left behind
                for stray in dst.parent.glob(dst.name + "*"):
                    stray.unlink()
            raise
        writer.close()
    finally:
        reader.close()
    return {"source": str(reader.path), "target": str(writer.path), "rows": rows,
            "events": rows["events"], "nodes": rows["nodes"]}
