"""Methods: plain-language procedures in a note (`kind: method`), parsed and run step by step.

Grammar (one step per numbered line; indented lines continue the step above):

    step    := NUMBER ("." | ")") TEXT
    branch  := "If" CONDITION ARROW TARGET ("," | ";")? ("otherwise" | "else") ARROW TARGET [REST]
    ARROW   := "→" | "->" | "=>"
    TARGET  := "step" NUMBER | "end" | "stop"
    a step whose whole text is "Stop", "End" or "Done" ends the run

Steps are numbered 1, 2, 3 … in order. Running a method generates each plain step's result
with the overlay's notes in context, and at a branch the selector chooses between the
condition holding or not. Loops are bounded (`max_visits` per step, `max_steps` per run).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from overlay.config import SelectConfig
from overlay.errors import MethodError, NotFoundError
from overlay.graph import EdgeKind, NodeKind, new_id
from overlay.patterns import START, S, linear
from overlay.select.passages import NOTHING, passages
from overlay.select.selector import CHOOSE_LM, Selector, plain
from overlay.store.base import Store
from overlay.trace import Span, Step, Trace

# a method's lines are untrusted text: each pattern is unambiguous, so it never backtracks badly
_STEP = linear(rf"^[{S}]{{0,3}}(\d+)[.)][{S}]+([^{S}](?:.*[^{S}])?)[{S}]*$")
_ARROW = r"(?:→|->|=>)"
# the grammar reads English and Russian: If/Если … → step/шаг N, otherwise/иначе → end/конец
_TARGET = rf"(?:(?:step|шаг)[{S}]+(\d+)|(end|stop|конец))"
_SP = f"[{S}]"
_BRANCH = linear(
    rf"(?i)^(?:if|если){_SP}+(?P<cond>.*?[^{S}]){_SP}*{_ARROW}{_SP}*{_TARGET}{_SP}*(?:[,;]{_SP}*)?"
    rf"(?:otherwise|else|иначе){_SP}*(?:,{_SP}*)?"
    rf"{_ARROW}{_SP}*(?:(?:step|шаг){_SP}+(?P<no>\d+)|(?P<noend>end|stop|конец)){_SP}*(?P<rest>.*)$"
)
_BRANCH_LIKE = linear(rf"(?i){_ARROW}|{START}(?:step|шаг){_SP}+\d")
_ENDS = {"stop", "end", "done", "конец", "готово"} | {f"{w}." for w in
                                                     ("stop", "end", "done", "конец", "готово")}


@dataclass
class Branch:
    condition: str
    yes: int | None  # None ends the run
    no: int | None
    note: str = ""


@dataclass
class MethodStep:
    number: int
    text: str
    line: int
    branch: Branch | None = None
    links: list[str] = field(default_factory=list)  # the nodes its [[links]] resolve to

    @property
    def ends(self) -> bool:
        return self.text.strip().lower() in _ENDS


@dataclass
class Method:
    title: str
    steps: dict[int, MethodStep] = field(default_factory=dict)
    node_id: str | None = None
    path: str | None = None


def parse(text: str, title: str = "method", path: str | None = None, first_line: int = 1) -> Method:
    """Parse numbered steps from `text`; errors name `path` and the line."""
    method = Method(title, path=path)
    current: MethodStep | None = None
    for offset, raw in enumerate(text.splitlines()):
        line = first_line + offset
        m = _STEP.match(raw)
        if m:
            number, body = int(m.group(1)), m.group(2)
            expected = len(method.steps) + 1
            if number != expected:
                raise MethodError(
                    f"step {number} where step {expected} was expected (number steps 1, 2, 3 …)",
                    path,
                    line,
                )
            current = MethodStep(number, body, line)
            method.steps[number] = current
        elif current is not None and raw.startswith((" ", "\t")) and raw.strip():
            current.text += " " + raw.strip()
        elif raw.strip():
            current = None
    if not method.steps:
        raise MethodError("no numbered steps found (write them as '1. Do this')", path, first_line)
    for step in method.steps.values():
        step.branch = _branch(step, path)
        for target in (step.branch.yes, step.branch.no) if step.branch else ():
            if target is not None and target not in method.steps:
                raise MethodError(
                    f"step {step.number} branches to step {target}, which does not exist "
                    f"(steps are 1–{len(method.steps)})",
                    path,
                    step.line,
                )
    _check_exits(method, path)
    return method


def _next(method: Method, step: MethodStep) -> list[int | None]:
    """Where a step can lead: its branch's two ways, else the next step (None is the end)."""
    if step.ends:
        return [None]
    if step.branch is not None:
        return [step.branch.yes, step.branch.no]
    return [step.number + 1 if step.number + 1 in method.steps else None]


def _check_exits(method: Method, path: str | None) -> None:
    """Every step must be able to reach the end: a step from which every way leads back (a
    loop with no exit) would run until the step limit, so it is a parse error."""
    reach: set[int | None] = {None}
    grew = True
    while grew:  # steps that can reach the end, grown to a fixed point (a few passes)
        grew = False
        for number, step in method.steps.items():
            if number not in reach and any(t in reach for t in _next(method, step)):
                reach.add(number)
                grew = True
    stuck = [s for n, s in method.steps.items() if n not in reach]
    if stuck:
        step = min(stuck, key=lambda s: (s.branch is None, s.number))
        raise MethodError(
            f"step {step.number} can never reach the end: every way on from it leads back "
            "(a loop with no exit); give one of its branches a way out, e.g. '→ end'",
            path,
            step.line,
        )


def _branch(step: MethodStep, path: str | None) -> Branch | None:
    body = plain(step.text)
    if not body.lower().startswith(("if ", "если ")):
        return None
    m = _BRANCH.match(body)
    if not m:
        if _BRANCH_LIKE.search(body):
            raise MethodError(
                f"step {step.number} reads as a branch but does not follow "
                "'If CONDITION → step N, otherwise → step M'",
                path,
                step.line,
            )
        return None
    yes = int(m.group(2)) if m.group(2) else None
    no = int(m.group("no")) if m.group("no") else None
    return Branch(m.group("cond").strip(), yes, no, m.group("rest").strip(" ()."))


def find(store: Store, ref: str) -> Method:
    """A method note by id, id prefix or title, rebuilt from its stored blocks and parsed
    (errors name its file and line)."""
    found = [
        n
        for n in store.iter_nodes()
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
            for b in store.nodes_of_source(node.source_path or "")
            if b.meta.get("role") in ("list", "paragraph") and b.line_start is not None
        ),
        key=lambda b: b.line_start or 0,
    )
    first = blocks[0].line_start or 1 if blocks else node.line_start or 1
    steps: list[str] = []
    for b in blocks:  # the note's lines again, blank where no block is
        while len(steps) < (b.line_start or first) - first:
            steps.append("")
        steps.extend(b.text.splitlines())
    method = parse("\n".join(steps), node.title, node.source_path, first)
    method.node_id = node.id
    _attach_links(store, method, [b.id for b in blocks])
    return method


def _attach_links(store: Store, method: Method, block_ids: list[str]) -> None:
    """Give each step the nodes its links resolve to (a link's line says its step)."""
    starts = sorted((s.line, s.number) for s in method.steps.values())
    for block_id in block_ids:
        for edge in store.edges_of(block_id):
            if edge.kind is not EdgeKind.LINKS_TO or edge.dst is None or edge.line is None:
                continue
            number = next((n for line, n in reversed(starts) if line <= edge.line), None)
            if number is not None and edge.dst not in method.steps[number].links:
                method.steps[number].links.append(edge.dst)


def run(
    method: Method, task: str, selector: Selector, goal: str = "answer", write: bool = False
) -> Trace:
    """Execute `method` on `task`; the trace's steps are the path taken. Each plain step's
    result is the note that best speaks to it (the statement grain, cited under the step);
    with `write` the model writes it instead, from those notes (its words, marked as such)."""
    cfg: SelectConfig = selector.config
    t0 = time.perf_counter()
    trace = Trace(
        new_id(),
        "run",
        task,
        goal,
        "method/write" if write else "method",
        selector.writer.name if write else selector.lm.name,
        settings={"method": method.title, "method_id": method.node_id,
                  "lm": selector.backends(),
                  **({} if selector.modulation.empty
                     else {"modulation": selector.modulation.to_dict()})},
    )
    visits: Counter[int] = Counter()
    number: int | None = 1
    history: list[str] = []
    while number is not None:
        if len(trace.steps) >= cfg.max_steps:
            trace.settings["stopped"] = f"step limit ({cfg.max_steps}) reached"
            break
        step = method.steps[number]
        visits[number] += 1
        record = Step(number, plain(step.text), line=step.line)
        trace.steps.append(record)
        if step.ends:
            break
        if step.branch is not None:
            number = _decide(step, task, history, selector, goal, visits, cfg, record)
            if record.branch and record.branch["stops"]:
                trace.settings["stopped"] = record.branch["note"]
            continue
        origin = _carry_out(step, method, task, selector, goal, write, record)
        if record.output:
            line = f"{number}. {record.output}"
            start = len(trace.answer) + (1 if trace.answer else 0)
            trace.answer += ("\n" if trace.answer else "") + line
            trace.spans.append(Span(start, start + len(line), line, list(record.nodes),
                                    origin if record.nodes or origin == "model" else "none"))
        history.append(f"Step {number}: {plain(step.text)} → {record.output}")
        number = number + 1 if number + 1 in method.steps else None
    trace.timings["total"] = time.perf_counter() - t0
    trace.settings["path"] = [s.number for s in trace.steps]
    return trace


def _carry_out(
    step: MethodStep, method: Method, task: str, selector: Selector, goal: str, write: bool,
    record: Step,
) -> str:
    """Fill a plain step's output and the notes behind it; returns the span's origin."""
    cfg = selector.config
    ctx, record.considered = passages(step.text, step.links, method.path, task, selector, goal)
    if not write:
        best = ctx[:1]
        record.output = best[0].text if best else NOTHING
        record.nodes = [c.node_id for c in best if c.node_id]
        return "overlay"
    notes = "\n".join(f"- {c.text}" for c in ctx) or "- (no notes)"
    prompt = selector.writer.chat_template(
        [
            {"role": "system", "content": f"You carry out one step of a method. Notes:\n{notes}"},
            {"role": "user", "content": f"Task: {task}\nStep {step.number}: {plain(step.text)}\n"
             "Say in one sentence what you do and what comes of it."},
        ]
    )
    gen = selector.writer.generate(prompt, max_tokens=cfg.step_tokens, stop=["\n"])
    record.output = gen.text.strip()
    record.nodes = [c.node_id for c in ctx if c.node_id]
    return "model"


def _decide(
    step: MethodStep,
    task: str,
    history: list[str],
    selector: Selector,
    goal: str,
    visits: Counter[int],
    cfg: SelectConfig,
    record: Step,
) -> int | None:
    assert step.branch is not None
    branch = step.branch
    so_far = "\n".join(history[-4:])
    question = f"Question: is it true that {branch.condition}?\nAnswer:"
    choice = selector.choose(f"Task: {task}\n{so_far}\n{question}", ["Yes", "No"], goal)
    # contextual calibration (Zhao et al. 2021): subtract the model's Yes/No prior on an
    # empty task, so the decision follows the task and the notes, not the model's habit
    prior = selector.lm.score(f"Task: N/A\n{question}", [" Yes", " No"])
    calibrated = {
        c.text: c.score - CHOOSE_LM * p.normalised(cfg.alpha)
        for c, p in zip(choice.candidates, prior, strict=True)
    }
    holds = calibrated["Yes"] > calibrated["No"]
    goto = branch.yes if holds else branch.no
    note = branch.note if not holds else ""  # "(after waiting one hour)" goes with "otherwise"
    if goto is not None and visits[goto] >= cfg.max_visits:  # the loop is cut: the other way
        cut, goto = goto, branch.no if holds else branch.yes
        note = f"loop cut: step {cut} already ran {cfg.max_visits} times"
        if goto is not None and visits[goto] >= cfg.max_visits:
            note += f", and so did step {goto}: the run stops"
            goto = None
    record.branch = {
        "condition": branch.condition,
        "options": {k: round(v, 4) for k, v in calibrated.items()},
        "chosen": branch.condition if holds else f"not ({branch.condition})",
        "goto": goto if goto is not None else "end",
        "note": note,
        "choice_trace": choice.id,
        "stops": note.endswith("the run stops"),
    }
    return goto
