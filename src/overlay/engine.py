"""The Overlay façade: the one Python API every face (CLI, server, notebooks) calls.

It wires settings, plugins, the store, ingest and retrieval together and owns nothing
else; all state lives in the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from overlay.config import Settings
from overlay.errors import ConfigError, NotFoundError, PluginError
from overlay.graph import Node
from overlay.ingest.vault import IngestReport, ingest
from overlay.plugins import Plugins, load_plugins
from overlay.retrieve.dense import embed_missing
from overlay.retrieve.embed import Embedder
from overlay.retrieve.hybrid import Hit, Retriever
from overlay.store.base import Store

Progress = Callable[[str, int, int], None]


class Overlay:
    """An overlay store with its retrieval. `Overlay("path/to/overlay.db")` opens one."""

    def __init__(
        self,
        db: Path | str | None = None,
        *,
        settings: Settings | None = None,
        plugins: Plugins | None = None,
        create: bool = True,
    ) -> None:
        if settings is None:
            settings = Settings.make(**({"db": Path(db)} if db is not None else {}))
        elif db is not None:
            settings = settings.model_copy(update={"db": Path(db)})
        self.settings = settings
        self.plugins = plugins or load_plugins()
        self.store: Store = self.plugins.stores.get(settings.store)(settings.db, create=create)
        self._embedder: Embedder | None = None
        self._embedder_loaded = False
        self._retriever: Retriever | None = None

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Overlay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ components
    @property
    def embedder(self) -> Embedder | None:
        """The configured embedder, loaded on first use (models take seconds to load)."""
        if not self._embedder_loaded:
            name = self.settings.retrieve.embedder
            try:
                factory = self.plugins.embedders.get(name)
                self._embedder = factory(self.settings.retrieve)
            except PluginError:
                if not Path(name).exists():
                    raise
                from overlay.builtins import sentence_transformer

                self._embedder = sentence_transformer(name)
            self._embedder_loaded = True
        return self._embedder

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = Retriever(self.store, self.settings.retrieve, self.embedder)
        return self._retriever

    # -------------------------------------------------------------- actions
    def ingest(self, paths: list[Path], progress: Progress | None = None) -> IngestReport:
        """Read vaults/files, embed new nodes and bring the vector index up to date."""
        quiet: Progress = lambda *_: None  # noqa: E731
        report = ingest(self.store, paths, self.settings.ingest, progress or quiet)
        embedder = self.embedder
        if embedder is not None:
            t0 = time.perf_counter()
            report.embedded = embed_missing(
                self.store, embedder, self.settings.retrieve.embed_batch, progress
            )
            report.seconds["embed"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            assert self.retriever.index is not None
            self.retriever.index.sync(progress)
            report.seconds["index"] = report.seconds.get("index", 0.0) + time.perf_counter() - t1
        return report

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """Hybrid search. Refuses to mix embedders: query vectors must match stored ones."""
        embedder = self.embedder
        if embedder is not None:
            models = self.store.vector_models()
            if models and embedder.name not in models:
                raise ConfigError(
                    f"this store's vectors were made by {', '.join(models)}, not {embedder.name}: "
                    "search with the --embedder it was ingested with, or re-ingest with this one"
                )
        return self.retriever.search(query, k)

    def node(self, node_id: str) -> Node:
        """A node by id or unique id prefix."""
        found = self.store.get_node(node_id)
        if found is not None:
            return found
        matches = self.store.find_nodes(node_id, limit=5) if len(node_id) >= 4 else []
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise NotFoundError(
                f"id {node_id!r} is ambiguous: {', '.join(m.id for m in matches)}; type more of it"
            )
        raise NotFoundError(f"no node with id {node_id!r}; `overlay search` shows ids")

    def show(self, node_id: str) -> dict[str, Any]:
        """A node with its provenance and its edges, each with the other end's title."""
        node = self.node(node_id)
        edges = self.store.edges_of(node.id)
        others = self.store.get_nodes(
            [x for e in edges for x in (e.src, e.dst) if x and x != node.id]
        )

        def title(i: str | None) -> str | None:
            return others[i].title if i in others else None

        return {
            "id": node.id,
            "kind": node.kind.value,
            "title": node.title,
            "text": node.text,
            "source": node.source_path,
            "lines": [node.line_start, node.line_end],
            "hash": node.hash,
            "meta": node.meta,
            "out": [
                {
                    "kind": e.kind.value,
                    "to": e.dst,
                    "title": title(e.dst),
                    "target": e.target,
                    "line": e.line,
                }
                for e in edges
                if e.src == node.id
            ],
            "in": [
                {"kind": e.kind.value, "from": e.src, "title": title(e.src), "line": e.line}
                for e in edges
                if e.dst == node.id and e.src != node.id
            ],
        }

    def stats(self) -> dict[str, Any]:
        stats = self.store.stats()
        stats["db"] = str(self.store.path)
        stats["embedder"] = self.settings.retrieve.embedder
        return stats

    def links(self, unresolved: bool = False) -> list[dict[str, Any]]:
        """Every link as written (or only those that point at nothing), with where it is."""
        edges = [s.edge for s in self.store.link_edges() if not unresolved or s.edge.dst is None]
        nodes = self.store.get_nodes(list({e.src for e in edges} | {e.dst for e in edges if e.dst}))
        out = []
        for e in edges:
            src = nodes.get(e.src)
            dst = nodes.get(e.dst) if e.dst else None
            out.append(
                {
                    "kind": e.kind.value,
                    "from": e.src,
                    "source": src.source_path if src else None,
                    "line": e.line,
                    "target": e.target,
                    "anchor": e.meta.get("anchor"),
                    "to": e.dst,
                    "to_title": dst.title if dst else None,
                }
            )
        out.sort(key=lambda r: (r["source"] or "", r["line"] or 0, r["target"] or ""))
        return out
