"""The Overlay façade: the one Python API every face (CLI, server, notebooks) calls.

It wires settings, plugins, the store, ingest and retrieval together and owns nothing
else; all state lives in the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overlay.config import Settings
from overlay.errors import ConfigError, ConflictError, NotFoundError, PluginError
from overlay.graph import Node, NodeKind
from overlay.ingest.vault import IngestReport, ingest
from overlay.plugins import Plugins, load_lm, load_plugins
from overlay.retrieve.dense import embed_missing, embed_text
from overlay.retrieve.embed import Embedder
from overlay.retrieve.hybrid import Hit, Retriever
from overlay.store.base import Event, Store
from overlay.trace import Trace

if TYPE_CHECKING:
    from overlay.lm.base import LM
    from overlay.methods import Method
    from overlay.modulation import Modulation
    from overlay.select import Selector

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
        self._lm: LM | None = None
        self._selector: Selector | None = None

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

    @property
    def lm(self) -> LM:
        """The configured language model, loaded on first use."""
        if self._lm is None:
            self._lm = load_lm(self.settings.lm, self.plugins)
        return self._lm

    @lm.setter
    def lm(self, value: LM) -> None:
        self._lm, self._selector = value, None

    @property
    def selector(self) -> Selector:
        if self._selector is None:
            from overlay.select import Selector

            self._selector = Selector(self.store, self.retriever, self.lm, self.settings.select)
        return self._selector

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
        self._check_embedder()
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

    def weights(self, node_id: str) -> list[dict[str, Any]]:
        """The node's counts toward each goal and the information they carry, in bits."""
        from overlay.weights import information

        node = self.node(node_id)
        out = []
        for goal, (s, f) in self.store.counts_of(node.id).items():
            s_j, f_j = self.store.goal_totals(goal)
            out.append({"goal": goal, "s": s, "f": f, "bits": information(s, f, s_j, f_j)})
        return out

    def node_history(self, node_id: str, limit: int = 2000) -> list[dict[str, Any]]:
        """Events among the last `limit` whose ops touch this node, newest first."""
        from overlay.learning import touches

        node = self.node(node_id)
        events = [
            e
            for e in self.store.events(limit)
            if any(touches(op, node.id) for op in e.payload.get("ops", []))
        ]
        return self._history_rows(events)

    def neighbourhood(self, node_ids: list[str], hops: int = 1, limit: int = 60) -> dict[str, Any]:
        """Nodes within `hops` resolved edges of `node_ids`, and the edges between them."""
        seen = [self.node(i).id for i in node_ids]
        frontier, edges = list(seen), set()
        for _ in range(hops):
            found = self.store.neighbours(frontier)
            frontier = []
            for a, b, kind in found:
                edges.add((a, b, kind))
                for x in (a, b):
                    if x not in seen and len(seen) < limit:
                        seen.append(x)
                        frontier.append(x)
        nodes = self.store.get_nodes(seen)
        return {
            "nodes": [
                {"id": i, "title": nodes[i].title, "kind": nodes[i].kind.value}
                for i in seen
                if i in nodes
            ],
            "edges": [
                {"src": a, "dst": b, "kind": k}
                for a, b, k in sorted(edges)
                if a in nodes and b in nodes
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

    # ------------------------------------------------------------- selection
    def ask(
        self, question: str, goal: str = "answer", mode: str = "statement", strict: bool = False
    ) -> Trace:
        """Answer from the overlay; the trace (stored) cites a node for every span it can."""
        if not question.strip():
            raise ConfigError("the question is empty")
        if mode not in ("statement", "compose"):
            raise ConfigError(f"mode {mode!r} is not 'statement' or 'compose'")
        if strict and mode != "compose":
            raise ConfigError("--strict applies to --mode compose only")
        self._check_embedder()
        self._tune()
        return self.record(self.selector.ask(question, goal, mode, strict))

    def choose(self, prompt: str, options: list[str], goal: str = "answer") -> Trace:
        """Rank `options` as continuations of `prompt` with the overlay's help."""
        if len(options) < 2:
            raise ConfigError("give at least two --option values to choose between")
        if len(set(options)) < len(options):
            raise ConfigError("the options repeat; give each once")
        self._check_embedder()
        self._tune()
        return self.record(self.selector.choose(prompt, options, goal))

    def method(self, ref: str) -> Method:
        """A method note by id, id prefix or title, parsed (errors name its file and line)."""
        from overlay.methods import parse

        found = [
            n
            for n in self.store.iter_nodes()
            if n.kind is NodeKind.METHOD
            and n.meta.get("role") == "source"
            and (n.id.startswith(ref) or n.title.lower() == ref.lower())
        ]
        if not found:
            raise NotFoundError(f"no method note {ref!r}; a method is a note with 'kind: method'")
        if len(found) > 1:
            raise NotFoundError(f"{ref!r} names {len(found)} methods; give its id")
        node = found[0]
        blocks = sorted(
            (
                b
                for b in self.store.nodes_of_source(node.source_path or "")
                if b.meta.get("role") in ("list", "paragraph") and b.line_start is not None
            ),
            key=lambda b: b.line_start or 0,
        )
        steps: list[str] = []
        first = blocks[0].line_start if blocks else node.line_start or 1
        for b in blocks:
            assert b.line_start is not None
            while len(steps) < b.line_start - (first or 1):
                steps.append("")
            steps.extend(b.text.splitlines())
        method = parse("\n".join(steps), node.title, node.source_path, first or 1)
        method.node_id = node.id
        return method

    def run(self, ref: str, task: str, goal: str = "answer") -> Trace:
        """Run a method note on `task`; the trace records the path and each branch."""
        from overlay.methods import run

        method = self.method(ref)
        self._check_embedder()
        self._tune()
        return self.record(run(method, task, self.selector, goal))

    def record(self, trace: Trace) -> Trace:
        """Store a trace (one event per trace); an ask also counts its co-activations."""
        from overlay.insights import coactivation_ops
        from overlay.learning import apply

        ops = coactivation_ops(self.store, trace) if trace.kind == "ask" else []
        payload: dict[str, Any] = {"trace": trace.id, "question": trace.question[:200]}
        if ops:
            payload["ops"] = ops
        with self.store.change(trace.kind, **payload):
            self.store.put_trace(trace.id, trace.question, trace.goal, trace.to_dict())
            apply(self.store, ops)
        return trace

    def trace(self, ref: str) -> Trace:
        """A stored trace by id or unique prefix."""
        data = self.store.get_trace(ref)
        if data is None:
            ids = self.store.find_traces(ref, 3) if len(ref) >= 4 else []
            if len(ids) > 1:
                raise NotFoundError(f"trace id {ref!r} is ambiguous; type more of it")
            data = self.store.get_trace(ids[0]) if ids else None
        if data is None:
            raise NotFoundError(f"no trace {ref!r}; `overlay ask` prints the id of its trace")
        return Trace.from_dict(data)

    def _check_embedder(self) -> None:
        """Refuse to mix embedders: query vectors must match the stored ones."""
        embedder = self.embedder
        models = self.store.vector_models()
        if embedder is not None and models and embedder.name not in models:
            raise ConfigError(
                f"this store's vectors were made by {', '.join(models)}, not {embedder.name}: "
                "use the --embedder it was ingested with, or re-ingest with this one"
            )

    def _tune(self) -> None:
        self.selector.tune(self.modulation().expand(self.store))

    def _feedback_given(self, trace_id: str) -> int | None:
        """The live (not undone) feedback event on a trace, if any: one verdict per trace."""
        live = [
            e.id for e in self.store.feedback_events(trace_id) if not self.store.is_undone(e.id)
        ]
        return live[-1] if live else None

    def _refuse_second_feedback(self, trace_id: str) -> None:
        earlier = self._feedback_given(trace_id)
        if earlier is not None:
            raise ConflictError(
                f"trace {trace_id} already has feedback (event {earlier}); "
                f"`overlay undo {earlier}` first to change it"
            )

    # -------------------------------------------------------------- learning
    def _commit(self, kind: str, ops: list[dict[str, Any]], **payload: Any) -> int:
        """Apply ops as one event; new nodes are embedded and indexed at once."""
        from overlay.learning import apply

        # models load only for ops that add nodes (a signal operator must not wait for one)
        embedder = self.embedder if any(op["op"] == "node+" for op in ops) else None
        with self.store.change(kind, ops=ops, **payload) as change:
            added = apply(self.store, ops)
            if added and embedder is not None:  # vectors in the same transaction and event
                nodes = self.store.get_nodes(added)
                texts = [embed_text(nodes[i].title, nodes[i].text) for i in added if i in nodes]
                self.store.put_vectors(
                    [i for i in added if i in nodes], embedder.name, embedder.embed(texts)
                )
        if added and embedder is not None:
            assert self.retriever.index is not None
            self.retriever.index.sync(None)
        return change.event_id or 0

    def learn(
        self,
        text: str,
        goal: str | None = None,
        links: list[str] | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        """Add a verified statement, searchable (lexical and dense) as soon as this returns."""
        from overlay.learning import learn_ops, learned_node

        self._check_embedder()
        node = learned_node(text, source, goal)
        ops = learn_ops(self.store, node, goal, [self.node(x).id for x in links or []])
        event = self._commit("learn", ops, node=node.id)
        return {"event": event, "id": node.id, "text": node.text, "goal": goal}

    def feedback(
        self,
        trace_id: str,
        verdict: str,
        correct: str | None = None,
        goal: str | None = None,
        **why: Any,
    ) -> dict[str, Any]:
        """Count a trace's outcome on the nodes it used; a correction is learned and linked.
        `why` goes into the event (a signal rule that gave the verdict)."""
        from overlay.learning import feedback_ops

        trace = self.trace(trace_id)
        self._refuse_second_feedback(trace.id)
        self._check_embedder()
        ops, gone, node = feedback_ops(self.store, trace, verdict, correct, goal)
        event = self._commit("feedback", ops, trace=trace.id, verdict=verdict, **why)
        return {
            "event": event,
            "trace": trace.id,
            "verdict": verdict,
            "goal": goal or trace.goal,
            "counted": [
                o["node"] for o in ops if o["op"] == "count" and (not node or o["node"] != node.id)
            ],
            "skipped_deleted": gone,
            "correction": node.id if node else None,
        }

    def feedback_many(self, items: list[tuple[str, str]], goal: str | None = None) -> int:
        """Many (trace id, verdict) feedbacks, one event each, in one transaction."""
        from overlay.learning import apply, feedback_ops

        written = 0
        with self.store.batch():
            for trace_id, verdict in items:
                data = self.store.get_trace(trace_id)
                if data is None:
                    raise NotFoundError(f"no trace {trace_id!r}")
                trace = Trace.from_dict(data)
                self._refuse_second_feedback(trace.id)
                ops, _gone, _node = feedback_ops(self.store, trace, verdict, None, goal)
                with self.store.change("feedback", ops=ops, trace=trace.id, verdict=verdict):
                    apply(self.store, ops)
                written += 1
        return written

    def modulation(self) -> Modulation:
        """The operators in force (gain, temperature, boosts); see `overlay.modulation`."""
        from overlay.modulation import Modulation

        return Modulation.from_rows(self.store.modulation())

    def modulate(self, name: str, target: str, value: float, **why: Any) -> int | None:
        """Set a modulation level as one undoable `signal` event; None when already set.
        A node target is resolved (id, prefix); `goal:NAME` targets a goal."""
        from overlay.modulation import GOAL_PREFIX, set_op

        if target and not target.startswith(GOAL_PREFIX):
            target = self.node(target).id
        op = set_op(self.modulation(), self.settings.select, name, target, value)
        return self._commit("signal", [op], **why) if op else None

    def snapshot(self, folder: Path, label: str, **why: Any) -> dict[str, Any]:
        """A consistent copy of the store in `folder`, recorded as a `snapshot` event (its
        undo records that it was taken back; the file stays)."""
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        path = folder / f"{stamp}-{label}.db"
        self.store.copy_to(path)
        event = self._commit("snapshot", [], path=str(path), **why)
        return {"event": event, "path": str(path)}

    def latest_trace(self) -> str | None:
        return self.store.latest_trace()

    def undo(self, event_id: int) -> dict[str, Any]:
        """Append the compensating event of `event_id`; state returns to what it was."""
        from overlay.learning import undo_ops

        event = self.store.event(event_id)
        if event is None:
            raise NotFoundError(f"no event {event_id}; `overlay history` lists them")
        ops = undo_ops(self.store, [event])
        new = self._commit("undo", ops, undoes=[event.id], what=event.kind)
        return {"event": new, "undid": event.id, "kind": event.kind}

    def revert(self, to: int) -> dict[str, Any]:
        """Undo every undoable event after `to` (newest first) as one event."""
        from overlay.learning import undo_ops

        if self.store.event(to) is None:
            raise NotFoundError(f"no event {to}; `overlay history` lists them")
        undone = self.store.undone()
        later = [
            e
            for e in self.store.events_after(to)
            if "ops" in e.payload and e.id not in undone and e.kind not in ("undo", "revert")
        ]
        if not later:
            return {"event": None, "undid": []}
        ops = undo_ops(self.store, later)
        new = self._commit("revert", ops, undoes=[e.id for e in later], to=to)
        return {"event": new, "undid": [e.id for e in later]}

    def history(self, limit: int = 30) -> list[dict[str, Any]]:
        return self._history_rows(self.store.events(limit))

    def _history_rows(self, events: list[Event]) -> list[dict[str, Any]]:
        undone = self.store.undone()
        rows = []
        for e in events:
            p = e.payload
            what = (p.get("operator") or p.get("question") or p.get("node") or p.get("trace")
                    or p.get("path") or "")
            if e.kind in ("undo", "revert"):
                what = "undoes " + ", ".join(map(str, p.get("undoes", [])))
            rows.append(
                {
                    "id": e.id,
                    "ts": e.ts,
                    "kind": e.kind,
                    "what": str(what)[:80],
                    "undoable": "ops" in p,
                    "undone": e.id in undone,
                }
            )
        return rows

    def merge(self, other: Path | str) -> dict[str, Any]:
        """Sum another overlay's counts into this one and add its learned nodes."""
        from overlay.learning import merge_ops

        self._check_embedder()
        ops, imported = merge_ops(self.store, Path(other))
        if not imported:
            return {"event": None, "imported": 0, "ops": 0}
        event = self._commit("merge", ops, path=str(other), imported=imported)
        return {"event": event, "imported": len(imported), "ops": len(ops)}

    def insights(self, min_asks: int = 3) -> list[dict[str, Any]]:
        from overlay.insights import proposals

        return [vars(i) for i in proposals(self.store, min_asks)]

    def decide_insight(self, insight_id: str, accept: bool) -> dict[str, Any]:
        from overlay.insights import decision_ops, find

        insight = find(self.store, insight_id)
        if insight is None:
            raise NotFoundError(f"no insight {insight_id!r}; `overlay insights` lists them")
        kind = "learn" if accept else "insight_reject"
        event = self._commit(kind, decision_ops(insight, accept), insight=insight.id)
        return {"event": event, "insight": insight.id, "accepted": accept}

    # ------------------------------------------------------------ evaluation
    def sibling(self, db: Path) -> Overlay:
        """Another store with this one's settings and already-loaded models."""
        other = Overlay(settings=self.settings.model_copy(update={"db": db}), plugins=self.plugins)
        other._embedder, other._embedder_loaded = self.embedder, True
        other.lm = self.lm
        return other

    def eval_edits(
        self,
        data: Path,
        limit: int | None = None,
        sequential: bool = True,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """The edit benchmark on a scratch copy of this store (see `overlay.evaluate.edits`)."""
        from overlay.evaluate.edits import evaluate, load

        records = load(data, limit)
        return evaluate(self.store.path, records, self.sibling, sequential, progress)
