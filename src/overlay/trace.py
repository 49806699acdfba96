"""Traces: the full record of one selection, stored with every ask, choose and method run.

A trace keeps the question and goal, every candidate with each score term, the choice, the
answer with each span mapped to the node ids behind it, the model, and timings. Rendering to
a Rich tree lives here too, so every face shows a trace the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from rich.text import Text
from rich.tree import Tree

Verdict = Literal["good", "bad"]
VERDICTS: tuple[str, ...] = get_args(Verdict)  # what feedback on a trace may say
# the score terms whose weights the selector learns from verdicts (overlay.weights.term_weight)
LEARNED_TERMS = ("lm", "retrieval", "information", "activation")


@dataclass
class Candidate:
    """One option the selector weighed, with the parts of its score."""

    node_id: str | None
    text: str
    title: str = ""
    terms: dict[str, float] = field(default_factory=dict)
    score: float = 0.0
    chosen: bool = False
    rank: int = 0
    # how spreading activation reached it: the seed (a question's hit or a goal's node) first,
    # this node last; empty where its own retrieval is its strongest activation
    via: list[str] = field(default_factory=list)


@dataclass
class Span:
    """A piece of the answer text [start, end) and the node ids that support it.

    `origin` is 'overlay' (copied from the cited nodes), 'connective' (an allowed joining word
    in strict mode) or 'model' (the LM's own words, supported by no node).
    """

    start: int
    end: int
    text: str
    nodes: list[str] = field(default_factory=list)
    origin: str = "overlay"


@dataclass
class Step:
    """One executed step of a method run (the path a run took)."""

    number: int
    text: str
    output: str = ""
    branch: dict[str, Any] | None = None
    line: int | None = None
    nodes: list[str] = field(default_factory=list)  # the notes behind the step's output
    # the passages weighed for the step: node, title, why it was a candidate, chosen or not
    considered: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Trace:
    """Everything about one ask/choose/run, enough to explain and to learn from it."""

    id: str
    kind: str
    question: str
    goal: str
    mode: str
    model: str
    answer: str = ""
    spans: list[Span] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    known: bool = True
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def chosen(self) -> list[Candidate]:
        return [c for c in self.candidates if c.chosen]

    @property
    def cited(self) -> list[str]:
        """Node ids behind the answer, in order of first use."""
        return list(dict.fromkeys(n for s in self.spans for n in s.nodes))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        data = dict(data)
        data["spans"] = [Span(**s) for s in data.get("spans", [])]
        data["candidates"] = [Candidate(**c) for c in data.get("candidates", [])]
        data["steps"] = [Step(**s) for s in data.get("steps", [])]
        return cls(**data)


def render(trace: Trace) -> Tree:
    """The trace as a Rich tree: answer spans with their nodes, candidates with score terms."""
    head = Text.assemble(
        (f"trace {trace.id}", "bold"),
        f"  {trace.kind}/{trace.mode}  goal={trace.goal}  model={trace.model}",
    )
    tree = Tree(head)
    tree.add(Text.assemble(("question: ", "bold"), trace.question))
    answer = tree.add(Text.assemble(("answer: ", "bold"), trace.answer or "(none)"))
    for span in trace.spans:
        label = ", ".join(span.nodes) if span.nodes else span.origin
        answer.add(Text.assemble((f"[{label}] ", "cyan"), span.text.strip()))
    if trace.steps:
        path = tree.add(Text("path", style="bold"))
        for step in trace.steps:
            node = path.add(Text.assemble((f"step {step.number}: ", "bold"), step.text))
            if step.branch:
                note = step.branch.get("note")
                why = f"{step.branch.get('chosen')!r}" + (f", {note}" if note else "")
                node.add(Text(f"branch → step {step.branch.get('goto')} ({why})", style="magenta"))
            elif step.output:
                node.add(Text(step.output.strip(), style="dim"))
            for seen in step.considered:
                mark = "✔ " if seen.get("chosen") else "  "
                node.add(Text(f"{mark}{seen.get('node', '')[:8]} {seen.get('title', '')}: "
                              f"{seen.get('why', '')}", style="cyan" if seen.get("chosen")
                              else "dim"))
    if trace.candidates:
        cands = tree.add(Text(f"candidates ({len(trace.candidates)})", style="bold"))
        for c in trace.candidates:
            terms = "  ".join(f"{k}={v:+.3f}" for k, v in c.terms.items())
            mark = "✔ " if c.chosen else "  "
            ident = c.node_id or "option"
            row = cands.add(
                Text.assemble(
                    (mark, "green"),
                    (f"{c.score:+.3f} ", "bold"),
                    (f"{ident} ", "cyan"),
                    (c.title or c.text)[:70],
                    (f"  {terms}", "dim"),
                )
            )
            if c.via:
                row.add(Text("activated via " + " → ".join(n[:8] for n in c.via), style="dim"))
    mod = trace.settings.get("modulation")
    if mod:  # signal operators in force when this selection ran (overlay.modulation)
        parts = [f"gain ×{mod['gain']:g}"] if mod["gain"] != 1 else []
        parts += [f"temperature {mod['temperature_delta']:+g}"] if mod["temperature_delta"] else []
        boosts = sorted(mod["boosts"].items(), key=lambda kv: -abs(kv[1]))
        parts += [f"boost {v:+g} on {k[:8]}" for k, v in boosts[:3]]
        parts += [f"{len(boosts) - 3} more boosts"] if len(boosts) > 3 else []
        parts += [f"goal {k} {v:+g}" for k, v in mod["goal_boosts"].items()]
        tree.add(Text("modulation: " + ", ".join(parts), style="magenta"))
    if trace.timings:
        tree.add(
            Text(
                "timings: " + "  ".join(
                    f"{k}={v:g}" if k.startswith("threads") else f"{k}={v * 1000:.0f} ms"
                    for k, v in trace.timings.items()
                ),
                style="dim",
            )
        )
    return tree
