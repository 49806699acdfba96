"""The selector: the LM as an associative processor choosing among what the overlay offers.

score(c) = w_lm·logP_LM(c | prompt)/len^α + w_ret·retrieval + w_inf·I(c, goal) + w_act·activation

with each weight learned per goal from verdicts (`term_weights`), starting from the configured
priors.

Candidates come from hybrid retrieval plus spreading activation, behind a relevance gate: when
nothing in the overlay is about the question, the answer says so instead of inventing one.
Every term of every candidate lands in the trace. The selector only reads the store.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Sequence

from overlay import threads
from overlay.config import SelectConfig
from overlay.errors import ConfigError
from overlay.evidence import evidence
from overlay.graph import Within, new_id
from overlay.lexical import analyze
from overlay.lm.base import LM, PROCESSORS, TOKENIZE, OnText
from overlay.modulation import BOOST_WEIGHT, Modulation
from overlay.patterns import S, linear
from overlay.retrieve.about import is_about
from overlay.retrieve.activation import spread
from overlay.retrieve.hybrid import Hit, Retriever
from overlay.select.decoding import StatementIndex, attribute, processors, strict_pattern
from overlay.store.base import Store
from overlay.trace import Candidate, Span, Trace
from overlay.weights import information, term_weight

NOTHING_KNOWN = "Nothing in the overlay is about this, so there is no answer to give."
STATEMENT_SYSTEM = "Answer the user's question with one statement from their notes."
COMPOSE_SYSTEM = "Answer the question in one or two sentences, using only these notes:\n{notes}"
NEUTRAL_QUESTION = "Tell me something."
PRECISION_TIE = 0.1  # support's share for how much of a statement an option covers
SUPPORT_FIRST = 1000.0  # weight that makes support lexicographically first in `choose`
# the LM's weight among options a person gave (`choose`, a method's yes/no): there the LM is
# the judge of how each continues the prompt, not one voice beside retrieval as in `ask`
CHOOSE_LM = 4.0
PRIOR_CACHE = 20_000
NEAR = 0.7  # questions this close (cosine) are alike, for an embedder that says no scale
RELEVANT = 0.3  # the relevance gate's cosine, for an embedder that says no scale
SKIP_ROLES = {"source", "section"}
_WIKILINK = linear(r"!?\[\[([^\[\]|#]*)(?:#[^\[\]|]*)?(?:\|([^\[\]]*))?\]\]")
_MARKS = linear(rf"(?m)(\*\*|__|`|^#+[ \t]*|^>[ \t]*(\[![^\[\]\n]*\][+-]?)?[{S}]*)")


def plain(text: str, limit: int | None = None) -> str:
    """Note text as a sentence: wikilinks shown as their display text, marks dropped."""
    out = _WIKILINK.sub(lambda m: (m.group(2) or m.group(1) or "").strip(), text)
    out = " ".join(_MARKS.sub("", out).split())
    if limit and len(out) > limit:
        cut = out[:limit]
        out = cut[: cut.rfind(" ")] if " " in cut else cut
    return out


def support(option: str, statement: str, prompt: str = "") -> float:
    """How well the statement states the option beyond what the prompt already says (0..1).

    Mainly the share of the option's stems among the statement's stems less the prompt's,
    counted with repeats: "Kenya African National Union is located in Venezuela" supports
    "Venezuela" after "… is located in", not "Kenya", which the prompt itself names, and
    "… Captain Universe exist? Captain Universe." says "Captain Universe" once more than its
    question does. Of two options it states whole, the one that covers more of what it says
    wins by a margin (`PRECISION_TIE`): "Star Cinema of Philippines" over "Star Cinema"."""
    stems = Counter(analyze(option))
    said = Counter(analyze(statement)) - Counter(analyze(prompt))
    if not stems or not said:
        return 0.0
    hit = (stems & said).total()
    return hit / stems.total() * (1 + PRECISION_TIE * hit / said.total()) / (1 + PRECISION_TIE)


class Selector:
    """Finds, weighs and picks candidates; returns traces. Reads the store, never writes it.

    `lm` scores candidates; `writer` (the same model unless given) writes in compose mode and
    in method steps, so a small model in process can score while a served one writes."""

    def __init__(
        self,
        store: Store,
        retriever: Retriever,
        lm: LM,
        config: SelectConfig,
        writer: LM | None = None,
        priors: dict[str, float] | None = None,
    ) -> None:
        self.store, self.retriever, self.lm, self.config = store, retriever, lm, config
        self.writer = writer or lm
        self.base, self.modulation = config, Modulation()
        self.rng = random.Random(config.seed)
        # per-token log P(text | a question that asks nothing): the scorer's, shared by every
        # selector over the same models (it never changes)
        self._prior_cache: dict[str, float] = {} if priors is None else priors

    def tune(self, modulation: Modulation) -> None:
        """Apply the operators in force (gain, temperature, boosts) to the next selections."""
        self.modulation, self.config = modulation, modulation.config(self.base)

    def settings(self) -> dict[str, object]:
        """What a trace records of the configuration in force, with its modulation, and the
        backend and model that scored and wrote."""
        out: dict[str, object] = self.config.model_dump(mode="json")
        out["lm"] = self.backends()
        if not self.modulation.empty:
            out["modulation"] = self.modulation.to_dict()
        return out

    def backends(self) -> dict[str, dict[str, str]]:
        """Which backend and model scored, and which wrote."""
        return {"score": {"backend": self.lm.backend, "model": self.lm.name},
                "write": {"backend": self.writer.backend, "model": self.writer.name}}

    # ------------------------------------------------------------- candidates
    def relevant(self, hit: Hit) -> bool:
        """The relevance gate: close enough in meaning (or, lexical only, sharing a word), on
        the embedder's own cosine scale."""
        embedder = self.retriever.embedder
        if embedder is None:
            return hit.parts.get("lexical", 0.0) > 0
        floor = self.config.min_similarity
        if floor is None:
            floor = float(getattr(embedder, "relevant", RELEVANT))
        return hit.parts.get("dense", -1.0) >= floor

    def admitted(self, question: str, hits: list[Hit]) -> list[Hit]:
        """The hits that pass the relevance gate, and the learned statements the question is
        about even where their wording is further off: for a statement the user taught, the
        question naming its subject is the better test ("Phil Bentham is originally from"
        for "Phil Bentham was native to Sydney" is 0.80 by e5, under its gate)."""
        below = [h.node_id for h in hits if not self.relevant(h)]
        nodes = self.store.get_nodes(below) if below else {}
        about = {i for i, n in nodes.items() if n.meta.get("learned") and is_about(
            self.store, question, n.meta.get("about") or n.text, self.config.about_share)}
        return [h for h in hits if h.node_id in about or h.node_id not in nodes]

    def gather(self, question: str, goal: str, within: Within | None = None) -> list[Candidate]:
        """Retrieval hits that pass the gate, plus nodes their activation reaches (only those
        `within` admits)."""
        cfg = self.config
        hits = self.admitted(question, self.retriever.search(question, cfg.candidates,
                                                             within=within))
        if not hits:
            return []
        top = max(h.score for h in hits) or 1.0
        ret = {h.node_id: h.score / top for h in hits}
        reached = spread(self.store, ret, decay=cfg.decay, hops=cfg.hops, goal=goal,
                         goal_nodes=cfg.goal_nodes)
        act = {n: a.level for n, a in reached.items()}
        extra = sorted((i for i in act if i not in ret), key=lambda i: (-act[i], i))
        nodes = self.store.get_nodes([h.node_id for h in hits] + extra[: cfg.activated * 4])
        order = [h.node_id for h in hits] + extra
        embedder = self.retriever.embedder
        counts = evidence(self.store, list(nodes), goal, question,
                          lambda: self.retriever.vector(question),
                          embedder.name if embedder else None, self.near())
        s_j, f_j = self.store.goal_totals(goal)
        out: list[Candidate] = []
        taken_extra = 0
        for node_id in order:
            node = nodes.get(node_id)
            if node is None or node.meta.get("role") in SKIP_ROLES:
                continue
            if within is not None and not within.matches(node):
                continue
            # a learned statement acts only where the question is about what it is about
            # (a correction is about the question it corrected)
            if node.meta.get("learned") and not is_about(
                self.store, question, node.meta.get("about") or node.text, cfg.about_share
            ):
                continue
            text = plain(node.text, cfg.max_chars)
            if len(text) < 12:
                continue
            if node_id not in ret:
                if taken_extra >= cfg.activated:
                    continue
                taken_extra += 1
            s, f = counts.get(node_id, (0, 0))
            terms = {  # the LM term is filled by `score` (or at a verdict: `lm_terms`)
                "retrieval": ret.get(node_id, 0.0),
                "information": information(s, f, s_j, f_j),
                "activation": act.get(node_id, 0.0),
            }
            if node_id in self.modulation.boosts:
                terms["boost"] = self.modulation.boosts[node_id]
            if goal in self.modulation.goals:  # w_inf·(1 + b)·I, never below 0
                terms["goal_boost"] = max(-1.0, self.modulation.goals[goal]) * terms["information"]
            path = reached[node_id].path
            out.append(Candidate(node_id, text, node.title, terms,
                                 via=list(path) if len(path) > 1 else []))
        return out

    def near(self) -> float:
        """The cosine from which another question counts as like a judged one: the setting,
        else the embedder's own (its cosines' scale: e5's run high for any two questions)."""
        if self.config.judged_similarity is not None:
            return self.config.judged_similarity
        return float(getattr(self.retriever.embedder, "near", NEAR))

    def term_weights(self, goal: str) -> dict[str, float]:
        """The weight of each score term toward `goal`: the configured prior, scaled by what
        the goal's verdicts say about each term's own picks."""
        evidence = self.store.term_counts(goal)
        s_j, f_j = self.store.goal_totals(goal)
        gain = self.config.term_gains()
        out = {t: term_weight(w, *evidence.get(t, (0, 0)), s_j, f_j, gain.get(t, 0.0))
               for t, w in self.config.term_priors().items()}
        out["goal_boost"], out["boost"] = out["information"], BOOST_WEIGHT
        return out

    def score(
        self, question: str, cands: list[Candidate], goal: str = "answer"
    ) -> dict[str, float]:
        """Fill each candidate's LM term and its weighted total; the weights it used.

        With `pmi` the LM term is log P(c | question) − log P(c | no question), per token: how
        much the question raises the statement, so a statement likely anywhere (generic, short
        words) does not win by being likely (surface-form competition, Holtzman et al. 2021)."""
        weights = self.term_weights(goal)
        if cands and (weights.get("lm", 0.0) != 0.0 or self.config.lm_at_ask == "always"):
            self.lm_terms(question, cands)
        for c in cands:
            c.score = self._total(c, weights)
        return weights

    def lm_terms(self, question: str, cands: list[Candidate]) -> None:
        """Fill each candidate's LM term: at ask time while the term has weight, else when
        a verdict on the ask arrives (the evidence that earns it weight)."""
        cfg = self.config
        asked = self.lm.score(self._prompt(question), [c.text for c in cands])
        for c, sc in zip(cands, asked, strict=True):
            c.terms["lm"] = sc.normalised(cfg.alpha)
        if cfg.pmi:
            for c, prior in zip(cands, self._priors([c.text for c in cands]), strict=True):
                c.terms["lm_raw"] = c.terms["lm"]
                c.terms["lm"] -= prior

    @staticmethod
    def _total(c: Candidate, weights: dict[str, float]) -> float:
        """The weighted sum of a candidate's terms (terms without a weight count 0)."""
        return sum(weights.get(k, 0.0) * v for k, v in c.terms.items())

    def _prompt(self, question: str) -> str:
        return self.lm.chat_template(
            [{"role": "system", "content": STATEMENT_SYSTEM}, {"role": "user", "content": question}]
        )

    def _priors(self, texts: list[str]) -> list[float]:
        """Per-token log P(text | a question that asks nothing), cached: it never changes."""
        cache = self._prior_cache
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        found = {}
        if missing:
            neutral = self._prompt(NEUTRAL_QUESTION)
            for t, sc in zip(missing, self.lm.score(neutral, missing), strict=True):
                found[t] = cache[t] = sc.normalised(self.config.alpha)
            for old in list(cache)[: max(0, len(cache) - PRIOR_CACHE)]:  # oldest first
                cache.pop(old, None)
        return [found[t] if t in found else cache[t] for t in texts]

    def pick(self, cands: list[Candidate], n: int) -> list[Candidate]:
        """Argmax (T=0) or sampling from softmax(score/T) without replacement; marks ranks."""
        ranked = sorted(cands, key=lambda c: -c.score)
        for r, c in enumerate(ranked, 1):
            c.rank = r
        if self.config.temperature <= 0:
            chosen = ranked[:n]
        else:
            pool, chosen = list(ranked), []
            while pool and len(chosen) < n:
                top = max(c.score for c in pool)
                w = [math.exp((c.score - top) / self.config.temperature) for c in pool]
                chosen.append(pool.pop(self.rng.choices(range(len(pool)), w)[0]))
        for c in chosen:
            c.chosen = True
        return chosen

    # ------------------------------------------------------------------ grains
    def ask(
        self,
        question: str,
        goal: str = "answer",
        mode: str = "statement",
        strict: bool = False,
        on_text: OnText | None = None,
        within: Within | None = None,
    ) -> Trace:
        """Answer from the overlay: cited statements, or composed text biased toward them;
        `within` keeps to the memories it admits."""
        if mode not in ("statement", "compose"):
            raise ConfigError(f"mode {mode!r} is not 'statement' or 'compose'")
        t0 = time.perf_counter()
        trace = Trace(
            new_id(),
            "ask",
            question,
            goal,
            mode + ("/strict" if strict else ""),
            self.lm.name,
            settings=self.settings(),
        )
        if within is not None:
            trace.settings["within"] = within.to_dict()
        cands = self.gather(question, goal, within)
        trace.timings["retrieve"] = time.perf_counter() - t0
        trace.timings["threads.retrieve"] = threads.last()
        trace.candidates = cands
        if not cands:
            trace.known, trace.answer = False, NOTHING_KNOWN
            trace.timings["total"] = time.perf_counter() - t0
            return trace
        t1 = time.perf_counter()
        weights = self.score(question, cands, goal)
        trace.settings["term_weights"] = {k: round(v, 4) for k, v in weights.items()}
        trace.settings["lm_deferred"] = "lm" not in cands[0].terms  # computed at its verdict
        chosen = self.pick(cands, self.config.statements)
        trace.timings["score"] = time.perf_counter() - t1
        trace.timings["threads.score"] = float(getattr(self.lm, "last_threads", 0))
        t2 = time.perf_counter()
        if mode == "statement":
            trace.answer, trace.spans = self._cite(chosen)
        else:
            trace.answer, trace.spans = self._compose(question, chosen, strict, on_text)
        trace.timings["answer"] = time.perf_counter() - t2
        trace.timings["total"] = time.perf_counter() - t0
        return trace

    @staticmethod
    def _cite(chosen: Sequence[Candidate]) -> tuple[str, list[Span]]:
        parts, spans, at = [], [], 0
        for c in chosen:
            piece = f"{c.text} [{(c.node_id or '')[:8]}]"
            spans.append(Span(at, at + len(piece), piece, [c.node_id] if c.node_id else []))
            parts.append(piece)
            at += len(piece) + 1
        return "\n".join(parts), spans

    def _compose(
        self, question: str, chosen: Sequence[Candidate], strict: bool, on_text: OnText | None
    ) -> tuple[str, list[Span]]:
        """The writer writes with the chosen notes in context. In process, logits processors
        pull it toward them (and, strict, allow nothing else); a served writer is constrained by
        a regular expression instead (strict), or writes freely and is attributed after."""
        writer, cfg = self.writer, self.config
        notes = "\n".join(f"- {c.text}" for c in chosen)
        prompt = writer.chat_template(
            [
                {"role": "system", "content": COMPOSE_SYSTEM.format(notes=notes)},
                {"role": "user", "content": question},
            ]
        )
        # attribution compares tokens; a writer with no tokenizer is read with the scorer's
        speller = writer if TOKENIZE in writer.features else self.lm
        statements = [(c.node_id or "", c.text) for c in chosen]
        index = StatementIndex.build(speller, statements, cfg.connectives if strict else (),
                                     sentences=PROCESSORS not in writer.features)
        pattern = None
        if PROCESSORS in writer.features:
            procs = processors(writer, index, cfg.lam, strict)
            gen = writer.generate(prompt, procs, cfg.max_tokens, on_text=on_text)
        else:
            pattern = strict_pattern([c.text for c in chosen], cfg.connectives) if strict else None
            gen = writer.generate(prompt, (), cfg.max_tokens, regex=pattern, on_text=on_text)
        if speller is not writer or pattern is not None:
            # held to a regular expression, a server may split words as its tokenizer never
            # would; attribution compares the text's own tokens
            return attribute(speller, speller.encode(gen.text), index)
        return attribute(writer, gen.token_ids, index, pieces=gen.extra.get("pieces"))

    def context(self, prompt: str, goal: str, n: int) -> list[Candidate]:
        """The overlay's statements about `prompt` that pass the gate, best first (no LM: its
        term is still 0 here)."""
        cands = self.gather(prompt, goal)
        weights = self.term_weights(goal)
        for c in cands:
            c.score = self._total(c, weights)
        return sorted(cands, key=lambda c: -c.score)[:n]

    def choose(
        self, prompt: str, options: Sequence[str], goal: str = "answer", context: bool = True
    ) -> Trace:
        """Rank given options as continuations of `prompt`, with the overlay's statements in
        context and each option's support in them; the bare LM's score is kept for reference."""
        if len(options) < 2:
            raise ConfigError("choose needs at least two options")
        t0 = time.perf_counter()
        trace = Trace(
            new_id(),
            "choose",
            prompt,
            goal,
            "choice",
            self.lm.name,
            settings=self.settings(),
        )
        ctx = self.context(prompt, goal, self.config.statements) if context else []
        trace.timings["retrieve"] = time.perf_counter() - t0
        trace.timings["threads.retrieve"] = threads.last()
        t1 = time.perf_counter()
        lead = " " if prompt and not prompt[-1].isspace() else ""
        conts = [o if o[:1].isspace() else lead + o for o in options]
        top = max((c.score for c in ctx), default=1.0) or 1.0
        sups = [
            max((c.score / top * support(o, c.text, prompt) for c in ctx), default=0.0)
            for o in options
        ]
        bare = self.lm.score(prompt, conts)
        # notes that back no option have nothing to say here: the bare model decides, so an
        # edit cannot move answers to questions it does not speak to (and no pass with them)
        scored = bare
        if any(sups):
            notes = "".join(f"{c.text}\n" for c in ctx)
            scored = self.lm.score(notes + prompt, conts)
        cands = []
        for i, option in enumerate(options):
            lm = scored[i].normalised(self.config.alpha)
            sup = sups[i]
            terms = {"lm": lm, "retrieval": sup, "lm_bare": bare[i].normalised(self.config.alpha)}
            # the overlay's knowledge has priority: support decides, the LM breaks ties
            w_sup = SUPPORT_FIRST if self.config.support_first else self.config.w_ret
            score = CHOOSE_LM * lm + w_sup * sup
            cands.append(Candidate(None, option, option, terms, score))
        self.pick(cands, 1)
        trace.candidates = cands
        trace.timings["score"] = time.perf_counter() - t1
        trace.timings["threads.score"] = float(getattr(self.lm, "last_threads", 0))
        best = next(c for c in cands if c.chosen)
        trace.answer = best.text
        backing = [c.node_id for c in ctx if c.node_id and support(best.text, c.text, prompt) > 0]
        origin = "overlay" if backing else "model"
        trace.spans = [Span(0, len(best.text), best.text, backing, origin)]
        trace.known = bool(ctx)
        trace.settings["context"] = [
            {"id": c.node_id, "text": c.text, "score": c.score} for c in ctx
        ]
        trace.timings["total"] = time.perf_counter() - t0
        return trace
