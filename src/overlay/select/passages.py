"""The passages that speak to one step of a method: what a run cites under each step.

A step is answered by the overlay other than its own method: first by the notes the step
links to (`[[Levain]]`), then by retrieval on the step's text with the task as context. A
passage is a paragraph-level block (a paragraph, list, table, quote or callout) or a learned
statement, never a whole note, a heading or any block of the method itself. Every passage
weighed is kept with the reason it was a candidate, so a trace can show why the chosen one
won.
"""

from __future__ import annotations

from typing import Any

from overlay.graph import Node
from overlay.select.selector import Selector, plain
from overlay.trace import Candidate

PASSAGE_ROLES = frozenset({"paragraph", "list", "table", "quote", "callout", "learned"})
NOTHING = "Nothing in the overlay speaks to this step."
SHOWN = 5  # passages kept per step in the trace


def _linked(selector: Selector, links: list[str], own: str | None) -> list[Node]:
    """The passages of the notes (or the blocks) a step links to, in the notes' order."""
    store = selector.store
    out: list[Node] = []
    for node in store.get_nodes(links).values():
        if node.source_path == own:
            continue
        if node.meta.get("role") in PASSAGE_ROLES:
            out.append(node)
            continue  # a link to one block: that block
        inside = [b for b in store.nodes_of_source(node.source_path or "")
                  if b.meta.get("role") in PASSAGE_ROLES and b.id != node.id
                  and (node.meta.get("role") == "source" or _under(b, node))]
        out += sorted(inside, key=lambda b: b.line_start or 0)
    return list({n.id: n for n in out}.values())


def _under(block: Node, section: Node) -> bool:
    """Whether `block` lies inside `section` (a heading a link names)."""
    start, end = section.line_start or 0, section.line_end or 0
    return start <= (block.line_start or -1) <= end


def passages(
    step: str, links: list[str], own: str | None, task: str, selector: Selector, goal: str,
) -> tuple[list[Candidate], list[dict[str, Any]]]:
    """The passages that speak to `step` (best first) and the ones weighed, with why. `links`
    are the node ids the step's links resolve to; `own` is the method's file, never cited."""
    text = plain(step)
    query = f"{text}\n{task}"
    hits = selector.retriever.search(query, max(selector.config.candidates, 100))
    rank = {h.node_id: i for i, h in enumerate(hits, 1)}
    linked = _linked(selector, links, own)
    if linked:
        order = sorted(linked, key=lambda n: (rank.get(n.id, len(hits) + 1), n.line_start or 0))
        why = ["linked from the step" + (f", retrieval #{rank[n.id]}" if n.id in rank else "")
               for n in order]
        chosen = [Candidate(order[0].id, plain(order[0].text, selector.config.max_chars),
                            order[0].title, chosen=True)]
        return chosen, _shown(order, why)
    ctx = selector.context(query, goal, selector.config.candidates)
    nodes = selector.store.get_nodes([c.node_id for c in ctx if c.node_id])
    found = [c for c in ctx if c.node_id in nodes and _passage(nodes[c.node_id], own)]
    order = [nodes[c.node_id] for c in found if c.node_id]
    why = [f"retrieval on the step's text, #{rank.get(n.id, '?')}, score {c.score:.2f}"
           for n, c in zip(order, found, strict=False)]
    return found[:1], _shown(order, why)


def _passage(node: Node, own: str | None) -> bool:
    return node.source_path != own and node.meta.get("role") in PASSAGE_ROLES


def _shown(order: list[Node], why: list[str]) -> list[dict[str, Any]]:
    return [{"node": n.id, "title": n.title, "source": n.source_path, "line": n.line_start,
             "why": w, "chosen": i == 0} for i, (n, w) in enumerate(zip(order, why,
                                                                        strict=True))][:SHOWN]
