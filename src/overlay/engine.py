"""The Overlay façade: the one Python API every face (CLI, server, notebooks) calls.

It wires settings, plugins, the store, retrieval, the selector and the writer together, and
each method is a few lines that hand the work to the module that owns it. All state lives
in the store; what the faces show is built in `overlay.views`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overlay import cancel, lookup, memories, views
from overlay.config import Settings, store_address
from overlay.errors import ConfigError, NotFoundError
from overlay.graph import Node
from overlay.ingest.vault import IngestReport, ingest
from overlay.memories import Scope
from overlay.models import Models
from overlay.plugins import AUTO, Plugins, auto_embedder, load_plugins, open_store
from overlay.progress import Progress, quiet
from overlay.retrieve.dense import embed_and_sync
from overlay.retrieve.embed import Embedder
from overlay.retrieve.hybrid import Hit, Retriever
from overlay.store.base import Store
from overlay.trace import Trace
from overlay.writer import Writer

if TYPE_CHECKING:
    from overlay.lm.base import LM
    from overlay.methods import Method
    from overlay.modulation import Modulation
    from overlay.select import Selector

ASK_MODES = ("statement", "compose")


class Overlay:
    """An overlay store with its retrieval, selector and learning.

    `Overlay("path/to/overlay.db")` opens one. `lm` and `embedder` hand it models that are
    already loaded, and `models` another overlay's models (so several overlays share one copy);
    otherwise the ones the settings name are loaded on first use."""

    def __init__(
        self,
        db: Path | str | None = None,
        *,
        settings: Settings | None = None,
        plugins: Plugins | None = None,
        create: bool = True,
        lm: LM | None = None,
        embedder: Embedder | None = None,
        models: Models | None = None,
    ) -> None:
        if settings is None:
            settings = Settings.make(**({"db": Path(db)} if db is not None else {}))
        elif db is not None:
            settings = settings.model_copy(update={"db": Path(db)})
        self.plugins = plugins or (models.plugins if models else load_plugins())
        self.store: Store = open_store(self.plugins, settings.store, settings.db, create=create)
        if settings.retrieve.embedder == AUTO:  # the store's own, or the default for a new one
            chosen = auto_embedder(self.store.vector_models())
            settings = settings.model_copy(update={
                "retrieve": settings.retrieve.model_copy(update={"embedder": chosen})})
        self.settings = settings
        self.models = models or Models(settings, self.plugins, lm, embedder)
        self._retriever: Retriever | None = None
        self._selector: Selector | None = None
        self.commits = Writer(self.store, lambda: self.embedder, lambda: self.retriever.index)

    def reader(self) -> Overlay:
        """An overlay over the same store for one thread that reads while others write: its
        own read-only connection, and this overlay's models, vector index and write path —
        what it records (the trace of an ask) is written through this overlay, one change at a
        time (`commits.lock`)."""
        other = Overlay.__new__(Overlay)
        other.settings, other.plugins, other.models = self.settings, self.plugins, self.models
        other.store = open_store(self.plugins, self.settings.store, self.settings.db,
                                 create=False, readonly=True)
        other._retriever = Retriever(other.store, self.settings.retrieve, self.embedder,
                                     self.retriever.index)
        other._selector = None
        other.commits = self.commits
        return other

    @property
    def path(self) -> Path | str:
        """Where the store lives: its file, or its database's address (no password)."""
        return self.store.path

    @property
    def migrated_from(self) -> int | None:
        """The schema version this store was upgraded from when it was opened, if it was."""
        return self.store.migrated_from

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
        return self.models.embedder

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = Retriever(self.store, self.settings.retrieve, self.embedder)
        return self._retriever

    @property
    def lm(self) -> LM:
        """The configured language model (`--model`), loaded on first use."""
        return self.models.lm

    @lm.setter
    def lm(self, value: LM) -> None:
        self.models.lm, self._selector = value, None

    @property
    def selector(self) -> Selector:
        if self._selector is None:
            from overlay.select import Selector

            self._selector = Selector(self.store, self.retriever, self.models.scorer,
                                      self.settings.select, writer=self.models.writer,
                                      priors=self.models.priors)
        return self._selector

    # ------------------------------------------------------------- knowledge
    def ingest(self, paths: list[Path], progress: Progress | None = None) -> IngestReport:
        """Read vaults/files, embed new nodes, bring the vector index up to date: all of it in
        the ingest's turn, so a second ingest finds everything written and embedded."""
        def embed(report: IngestReport) -> None:
            if self.embedder is not None:
                report.embedded, report.seconds["embed"], took = self._embed(progress)
                report.seconds["index"] = report.seconds.get("index", 0.0) + took
        return ingest(self.store, paths, self.settings.ingest, progress or quiet, embed)

    def reembed(self, progress: Progress | None = None) -> int:
        """Give every node a vector from this overlay's embedder (a store made with another
        one: afterwards it answers with this one). Returns how many nodes were embedded."""
        if self.embedder is None:
            raise ConfigError("the embedder 'none' makes no vectors; name one, e.g. --embedder e5")
        self.store.check_writable()
        return self._embed(progress)[0]

    def _embed(self, progress: Progress | None) -> tuple[int, float, float]:
        assert self.embedder is not None and self.retriever.index is not None
        return embed_and_sync(self.store, self.embedder, self.retriever.index,
                              self.settings.retrieve.embed_batch, progress)

    def search(self, query: str, k: int = 10, scope: Scope | None = None) -> list[Hit]:
        """Hybrid search within `scope` (by default, the time the query names). Refuses to
        mix embedders: query vectors must match stored ones."""
        if not query.strip():
            raise ConfigError("the search is empty: give the words or meaning to look for")
        self._check_embedder()
        within = (scope or self.scope(query)).within
        return self.retriever.search(query, k, within=within)

    def scope(self, text: str, speaker: str | None = None, since: str | None = None,
              until: str | None = None) -> Scope:
        """What a search or ask for `text` keeps to: a speaker and dates, else the time the
        text names (see `overlay.memories`)."""
        return memories.scope(self.retriever, text, speaker, since, until)

    def node(self, node_id: str) -> Node:
        """A node by id or unique id prefix."""
        return lookup.node(self.store, node_id)

    def note(self, ref: str) -> Node:
        """A node by id or id prefix, or else a note (a whole file) by its title."""
        return lookup.note(self.store, ref)

    def show(self, node_id: str) -> dict[str, Any]:
        """A node with its provenance and its edges, each with the other end's title."""
        return views.node(self.store, self.node(node_id))

    def term_weights(self, goal: str | None = None) -> list[dict[str, Any]]:
        """The selector's score-term weights per goal, learned from verdicts, with their
        evidence (every goal with verdicts, or `goal`)."""
        cfg = self.settings.select
        return views.term_weights(self.store, cfg.term_priors(), cfg.term_gains(), goal)

    def weights(self, node_id: str) -> list[dict[str, Any]]:
        """The node's counts toward each goal and the information they carry, in bits."""
        return views.weights(self.store, self.node(node_id).id)

    def node_history(self, node_id: str, limit: int = 2000) -> list[dict[str, Any]]:
        """Events among the last `limit` whose ops touch this node, newest first."""
        return views.node_history(self.store, self.node(node_id).id, limit)

    def neighbourhood(self, node_ids: list[str], hops: int = 1, limit: int = 60) -> dict[str, Any]:
        """Nodes within `hops` resolved edges of `node_ids`, and the edges between them."""
        return views.neighbourhood(self.store, [self.node(i).id for i in node_ids], hops, limit)

    def scaffold(self, name: str, goal: str | None, tag: str | None, by: str) -> str:
        """A dataset spec (passport YAML) with the overlay's notes as nodes, grouped per
        folder or per first tag (see `overlay.dataset.scaffold`)."""
        from overlay.dataset.scaffold import scaffold

        return scaffold(self.store, name=name, goal=goal, tag=tag, by=by)

    def sources(self) -> dict[str, dict[str, Any]]:
        """Every ingested file: its content hash and the note nodes it made."""
        return views.sources(self.store)

    def stats(self) -> dict[str, Any]:
        return views.stats(self.store, self.settings.retrieve.embedder)

    def links(self, unresolved: bool = False) -> list[dict[str, Any]]:
        """Every link as written (or only those that point at nothing), with where it is."""
        return views.links(self.store, unresolved)

    # ------------------------------------------------------------- selection
    def ask(
        self,
        question: str,
        goal: str = "answer",
        mode: str = "statement",
        strict: bool = False,
        on_text: Callable[[str], None] | None = None,
        scope: Scope | None = None,
    ) -> Trace:
        """Answer from the overlay within `scope` (by default, the time the question names);
        the trace (stored) cites a node for every span it can. In compose mode `on_text`
        receives each piece of the answer as it is written."""
        if not question.strip():
            raise ConfigError("the question is empty")
        if mode not in ASK_MODES:
            raise ConfigError(f"mode {mode!r} is not 'statement' or 'compose'")
        if strict and mode != "compose":
            raise ConfigError("strict applies to compose mode only")
        self._prepare(question)
        scope = scope or self.scope(question)
        trace = self.selector.ask(question, goal, mode, strict, on_text, scope.within)
        if scope.said:
            trace.settings["time_said"] = scope.said
        return self.record(trace)

    def choose(self, prompt: str, options: list[str], goal: str = "answer") -> Trace:
        """Rank `options` as continuations of `prompt` with the overlay's help."""
        if len(options) < 2:
            raise ConfigError("give at least two --option values to choose between")
        if len(set(options)) < len(options):
            raise ConfigError("the options repeat; give each once")
        self._prepare(prompt + max(options, key=len), chat=False)
        return self.record(self.selector.choose(prompt, options, goal))

    def method(self, ref: str) -> Method:
        """A method note by id, id prefix or title, parsed (errors name its file and line)."""
        from overlay.methods import find

        return find(self.store, ref)

    def run(self, ref: str, task: str, goal: str = "answer", write: bool = False) -> Trace:
        """Run a method note on `task`; the trace records the path and each branch. A step's
        result is the note that speaks to it; with `write`, the model writes it."""
        from overlay.methods import run

        method = self.method(ref)
        self._prepare(task)
        return self.record(run(method, task, self.selector, goal, write))

    def record(self, trace: Trace) -> Trace:
        """Store a trace (one event per trace); an ask also counts its co-activations. Work
        whose request was cancelled meanwhile (its client left) records nothing."""
        cancel.check()
        self.commits.record(trace)
        return trace

    def trace(self, ref: str) -> Trace:
        """A stored trace by id or unique prefix."""
        return lookup.trace(self.store, ref)

    def latest_trace(self) -> str | None:
        return self.store.latest_trace()

    def citations(self, trace: Trace) -> list[dict[str, Any]]:
        """The nodes the trace's answer cites, with title, file and line."""
        return views.citations(self.store, trace)

    def _check_embedder(self) -> None:
        """Refuse to mix embedders: query vectors must match the stored ones."""
        embedder = self.embedder
        models = self.store.vector_models()
        if embedder is not None and models and embedder.name not in models:
            raise ConfigError(
                f"this store's vectors were made by {', '.join(models)}, not {embedder.name}: "
                "use the --embedder it was made with, or give it this one's vectors with "
                "`overlay reembed --embedder NAME` (or re-ingest with it)")

    def _prepare(self, question: str, chat: bool = True) -> None:
        """Before a selection, before any model work: the question checked, the embedder the
        store's, the operators in force applied."""
        self.check_question(question, chat)
        self._check_embedder()
        self.selector.tune(self.modulation().expand(self.store))

    def check_question(self, question: str, chat: bool = True) -> None:
        """What refuses a question before any model work: a store its trace cannot be written
        to, and a question over its limit (counted in the scorer's tokens, inside its chat
        template unless `chat` is off)."""
        self.commits.store.check_writable()
        self.models.check_question(question, self.settings.select.max_question_tokens, chat)

    # -------------------------------------------------------------- learning
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
        event = self.commits.commit("learn", ops, node=node.id)
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
        from overlay.insights import pair_ops
        from overlay.learning import OUTCOMES, feedback_ops, refuse_second_verdict

        trace = self.trace(trace_id)
        refuse_second_verdict(self.store, trace.id)
        if trace.settings.get("lm_deferred") and trace.candidates:  # its evidence, now
            self.selector.lm_terms(trace.question, trace.candidates)
        if correct:  # only a correction adds a node, so only it needs the embedder
            self._check_embedder()
        ops, gone, node = feedback_ops(self.store, trace, verdict, correct, goal)
        ops += pair_ops(self.store, trace, goal or trace.goal, *OUTCOMES[verdict])
        event = self.commits.commit("feedback", ops, trace=trace.id, verdict=verdict, **why)
        counted = [o["node"] for o in ops if o["op"] == "count"]
        return {"event": event, "trace": trace.id, "verdict": verdict,
                "goal": goal or trace.goal, "skipped_deleted": gone,
                "counted": [n for n in counted if not node or n != node.id],
                "correction": node.id if node else None}

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Many changes (feedback on a day's traces, say), each its own event, committed
        together in one transaction: all of them or none."""
        with self.store.batch():
            yield

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
        return self.commits.commit("signal", [op], **why) if op else None

    def copy_to(self, path: Path) -> None:
        """A consistent copy of the whole store in one new file (nothing is recorded)."""
        self.store.copy_to(path)

    def scratch(self, empty: bool = False) -> AbstractContextManager[Path | str]:
        """A scratch copy of the store (empty with `empty`), removed afterwards: its address."""
        return self.store.scratch(empty)

    def snapshot(self, folder: Path, label: str, **why: Any) -> dict[str, Any]:
        """A consistent copy of the store in `folder`, recorded as a `snapshot` event (its
        undo records that it was taken back; the file stays)."""
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        path = folder / f"{stamp}-{label}.db"
        self.store.copy_to(path)
        event = self.commits.commit("snapshot", [], path=str(path), **why)
        return {"event": event, "path": str(path)}

    def undo(self, event_id: int) -> dict[str, Any]:
        """Append the compensating event of `event_id`; state returns to what it was."""
        return self.commits.undo(event_id)

    def revert(self, to: int) -> dict[str, Any]:
        """Undo every undoable event after `to` (newest first) as one event."""
        return self.commits.revert(to)

    def history(self, limit: int = 30) -> list[dict[str, Any]]:
        """The newest events, with whether each can be and has been undone."""
        return views.history(self.store, self.store.events(limit))

    def merge(self, other: Path | str) -> dict[str, Any]:
        """Import another overlay's changes (learned nodes, counts), each one once."""
        from overlay.learning import merge_ops

        self._check_embedder()
        address = store_address(other)
        if isinstance(address, Path) and not address.exists():
            raise NotFoundError(f"no overlay store at {other}")
        theirs = open_store(self.plugins, self.settings.store, address, create=False)
        try:
            ops, imported = merge_ops(self.store, theirs)
        finally:
            theirs.close()
        if not imported:
            return {"event": None, "imported": 0, "ops": 0}
        event = self.commits.commit("merge", ops, path=str(other), imported=imported)
        return {"event": event, "imported": len(imported), "ops": len(ops)}

    def insights(self, min_asks: int = 3) -> list[dict[str, Any]]:
        """Proposed links: unlinked nodes that keep being activated together, with the bits
        toward a goal their co-activation carried (`overlay.insights`)."""
        from overlay.insights import proposals

        return [vars(i) for i in proposals(self.store, min_asks)]

    def decide_insight(self, insight_id: str, accept: bool) -> dict[str, Any]:
        """Accept (an analogy edge, a learn event) or reject (a counted failure) a proposal."""
        from overlay.insights import decision_ops, find

        insight = find(self.store, insight_id)
        if insight is None:
            raise NotFoundError(f"no insight {insight_id!r}; the insights list shows their ids")
        kind = "learn" if accept else "insight_reject"
        event = self.commits.commit(kind, decision_ops(insight, accept), insight=insight.id)
        return {"event": event, "insight": insight.id, "accepted": accept}
