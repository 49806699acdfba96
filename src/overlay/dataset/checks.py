"""Design-rule checks: run before any training, like DRC before a chip is taped out.

Each rule has an id, a severity and a location (spec `file:line:col`, or an item id). Every rule
is linear or near-linear in the size of the dataset: grouping by key, MinHash LSH for
near-duplicates, an n-gram index for leakage, strongly connected components for cycles.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from overlay.dataset.items import Built, Item
from overlay.dataset.spec import NodeRef, Spec
from overlay.dataset.text import ngrams, normalise, words
from overlay.progress import Progress, quiet

Severity = Literal["error", "warning"]

RULES: dict[str, tuple[Severity, str]] = {
    "duplicate-id": ("error", "Two modules, or two nodes of one module, share an id."),
    "dangling-anchor": (
        "error",
        "An anchor or transition names no node, or several (ambiguous), or its own node.",
    ),
    "cycle": ("error", "Transitions of a relation listed in checks.acyclic form a cycle."),
    "contradiction": ("error", "Two claims with the same subject and relation differ in value."),
    "near-duplicate": (
        "warning",
        "Statements of different nodes (MinHash), or two items, say (nearly) the same.",
    ),
    "coverage": ("error", "A node has fewer training items or self-tests than required."),
    "leakage": ("error", "A self-test question shows up in a training prompt (n-gram overlap)."),
    "module-balance": ("warning", "One module has many times the items of another."),
    "token-budget": ("error", "An item is longer than checks.max_tokens for the base model."),
}


@dataclass(frozen=True)
class Finding:
    """One rule violation and where to fix it."""

    rule: str
    message: str
    where: str
    severity: Severity = "error"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    """All findings of one check run, with what was checked."""

    findings: list[Finding]
    counted: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def by_rule(self) -> dict[str, int]:
        return dict(sorted(Counter(f.rule for f in self.findings).items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.findings) - len(self.errors),
            "by_rule": self.by_rule(),
            "counted": self.counted,
            "findings": [f.to_json() for f in self.findings],
        }


class TokenCounter(Protocol):
    """Tokens each item takes in the base model's format."""

    name: str

    def __call__(self, items: Sequence[Item]) -> list[int]: ...


def _finding(rule: str, message: str, where: str) -> Finding:
    return Finding(rule, message, where, RULES[rule][0])


# --------------------------------------------------------------------- rules
def duplicate_ids(spec: Spec, built: Built) -> Iterator[Finding]:
    seen: dict[str, int] = {}
    for mi, module in enumerate(spec.passport.modules):
        if module.id in seen:
            yield _finding("duplicate-id", f"module id {module.id!r} is used twice",
                           spec.where(("modules", mi, "id")))
        seen.setdefault(module.id, mi)
        ids: set[str] = set()
        for ni, node in enumerate(module.nodes):
            if node.id in ids:
                yield _finding("duplicate-id", f"node id {module.id}.{node.id} is used twice",
                               spec.where(("modules", mi, "nodes", ni, "id")))
            ids.add(node.id)


def _ports(ref: NodeRef) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    for k, anchor in enumerate(ref.node.anchors):
        yield anchor, (*ref.path, "anchors", k)
    for k, tr in enumerate(ref.node.transitions):
        yield tr.to, (*ref.path, "transitions", k, "to")


def dangling_anchors(spec: Spec, built: Built) -> Iterator[Finding]:
    for ref in spec.refs:
        for target, path in _ports(ref):
            found = spec.candidates(target, ref.module)
            if not found:
                why = f"{ref.key}: {target!r} names no node"
            elif len(found) > 1:
                names = ", ".join(r.key for r in found)
                why = f"{ref.key}: {target!r} is ambiguous ({names}); write module.node"
            elif found[0].key == ref.key:
                why = f"{ref.key}: {target!r} points at its own node"
            else:
                continue
            yield _finding("dangling-anchor", why, spec.where(path))


def cycles(spec: Spec, built: Built) -> Iterator[Finding]:
    import networkx as nx

    for relation in spec.passport.checks.acyclic:
        graph: Any = nx.DiGraph()
        first: dict[tuple[str, str], tuple[str | int, ...]] = {}
        for ref in spec.refs:
            for k, tr in enumerate(ref.node.transitions):
                other = spec.resolve(tr.to, ref.module)
                if tr.relation == relation and other is not None:
                    graph.add_edge(ref.key, other.key)
                    first.setdefault((ref.key, other.key), (*ref.path, "transitions", k))
        for component in nx.strongly_connected_components(graph):
            if len(component) == 1 and not graph.has_edge(*(2 * list(component))):
                continue
            loop = nx.find_cycle(graph.subgraph(component))
            path = " → ".join([str(e[0]) for e in loop] + [str(loop[0][0])])
            yield _finding("cycle", f"'{relation}' transitions loop: {path}",
                           spec.where(first[(loop[-1][0], loop[-1][1])]))


def contradictions(spec: Spec, built: Built) -> Iterator[Finding]:
    groups: dict[tuple[str, str], list[tuple[str, str, tuple[str | int, ...]]]] = defaultdict(list)
    for ref in spec.refs:
        for k, s in enumerate(ref.node.statements):
            if s.claim is None:
                continue
            subject, relation, value = s.claim
            named = spec.resolve(f"[[{subject}]]", ref.module)
            key = (named.key if named else normalise(subject), normalise(relation))
            groups[key].append((normalise(value), value, (*ref.path, "statements", k)))
    for (subject, relation), claims in groups.items():
        values = {v for v, _, _ in claims}
        if len(values) < 2:
            continue
        first_value, first_text, first_path = claims[0]
        for value, text, path in claims[1:]:
            if value != first_value:
                yield _finding(
                    "contradiction",
                    f"{subject} / {relation}: {text!r} here but {first_text!r} at "
                    f"{spec.where(first_path)}",
                    spec.where(path),
                )


def _shingles(text: str) -> set[str]:
    """Character 5-grams of the normalised text: one changed word in a sentence moves few of
    them, where word n-grams of a short text would make it look new."""
    flat = normalise(text)
    return {flat[i : i + 5] for i in range(max(len(flat) - 4, 1))} if flat else set()


def _similar_pairs(
    texts: Sequence[tuple[str, str]], threshold: float
) -> Iterator[tuple[str, str, float]]:
    """(first, key, Jaccard) for each text at or above `threshold` to an earlier one: LSH
    proposes, exact Jaccard decides. A text that repeats another is reported once, against the
    first of its kind, and does not join the index, so a thousand copies of one sentence cost a
    thousand lookups, not half a million comparisons."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=64)
    template = MinHash(num_perm=64, seed=1)  # permutations drawn once, shared by every text
    sets: dict[str, set[str]] = {}
    for key, text in texts:
        shingles = _shingles(text)
        if not shingles:
            continue
        mh = MinHash(num_perm=64, seed=1, permutations=template.permutations,
                     scheme=template.scheme)
        mh.update_batch([s.encode() for s in sorted(shingles)])
        first = None
        for other in sorted(lsh.query(mh)):
            jaccard = len(shingles & sets[other]) / len(shingles | sets[other])
            if jaccard >= threshold:
                first = other
                yield other, key, jaccard
                break
        if first is None:
            sets[key] = shingles
            lsh.insert(key, mh)


def near_duplicates(spec: Spec, built: Built) -> Iterator[Finding]:
    threshold = spec.passport.checks.near_duplicate
    statements = {}
    for ref in spec.refs:
        for k, s in enumerate(ref.node.statements):
            statements[f"{ref.key}#{k}"] = (ref.key, (*ref.path, "statements", k), s.text)
    texts = [(key, v[2]) for key, v in statements.items()]
    for a, b, jaccard in _similar_pairs(texts, threshold):
        (node_a, path_a, _), (node_b, path_b, _) = statements[a], statements[b]
        if node_a != node_b:
            yield _finding("near-duplicate",
                           f"{node_b} says nearly what {node_a} says at {spec.where(path_a)} "
                           f"(Jaccard {jaccard:.2f})", spec.where(path_b))
    seen: dict[str, str] = {}
    for item in built.items:
        digest = hashlib.blake2b(normalise(item.content).encode(), digest_size=12).hexdigest()
        if digest in seen:
            yield _finding("near-duplicate", f"same content as item {seen[digest]}", item.id)
        seen.setdefault(digest, item.id)
    lm_items = [(i.id, i.content) for i in built.items if i.source == "lm"]
    for a, b, jaccard in _similar_pairs(lm_items, threshold):
        if a.split("/")[0] == b.split("/")[0]:
            yield _finding("near-duplicate", f"LM item repeats {a} (Jaccard {jaccard:.2f})", b)


def coverage(spec: Spec, built: Built) -> Iterator[Finding]:
    checks = spec.passport.checks
    items = Counter(f"{i.module}.{i.node}" for i in built.items if i.text is None)
    tests = Counter(f"{t.module}.{t.node}" for t in built.tests)
    for ref in spec.refs:
        if items[ref.key] < checks.min_items:
            yield _finding("coverage", f"{ref.key} has {items[ref.key]} training items "
                           f"(checks.min_items: {checks.min_items})",
                           spec.where(ref.path))
        if tests[ref.key] < checks.min_self_tests:
            yield _finding("coverage", f"{ref.key} has {tests[ref.key]} self-tests "
                           f"(checks.min_self_tests: {checks.min_self_tests})",
                           spec.where(ref.path))


def leakage(spec: Spec, built: Built) -> Iterator[Finding]:
    """A self-test leaks when a share of its question's n-grams appears in one training prompt.
    n is the question's own length when that is shorter than `leakage_ngram`, so a short
    question is caught when it appears whole (fixed 13-gram matching never sees it)."""
    checks = spec.passport.checks
    index: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    size: list[int] = []
    for t, test in enumerate(built.tests):
        tokens = words(test.question)
        n = max(1, min(checks.leakage_ngram, len(tokens)))
        grams = ngrams(tokens, n)
        size.append(len(grams))
        for g in grams:
            index[n][g].append(t)
    where = {f"{r.key}/selftest-{k}": (*r.path, "self_tests", k)
             for r in spec.refs for k in range(len(r.node.self_tests))}
    leaks: dict[int, list[str]] = defaultdict(list)
    for item in built.items:
        tokens = words(item.prompt)
        hits: Counter[int] = Counter()
        for n, table in index.items():
            for g in ngrams(tokens, n) & table.keys():
                hits.update(table[g])
        for t, count in hits.items():
            if size[t] and count / size[t] >= checks.leakage:
                leaks[t].append(item.id)
    for t, item_ids in sorted(leaks.items()):
        test = built.tests[t]
        more = f" and {len(item_ids) - 3} more" if len(item_ids) > 3 else ""
        shown = ", ".join(item_ids[:3]) + more
        yield _finding("leakage", f"self-test {test.id} ({test.question!r}) appears in training "
                       f"prompts: {shown}", spec.where(where.get(test.id, ())))


def module_balance(spec: Spec, built: Built) -> Iterator[Finding]:
    per = Counter(i.module for i in built.items)
    sizes = {m.id: per[m.id] for m in spec.passport.modules}
    if len(sizes) < 2:
        return
    small, large = min(sizes, key=lambda m: sizes[m]), max(sizes, key=lambda m: sizes[m])
    ratio = sizes[large] / max(sizes[small], 1)
    if ratio > spec.passport.checks.balance:
        mi = next(i for i, m in enumerate(spec.passport.modules) if m.id == small)
        yield _finding("module-balance", f"module {large} has {sizes[large]} items, {small} has "
                       f"{sizes[small]} ({ratio:.1f}×, checks.balance: "
                       f"{spec.passport.checks.balance})", spec.where(("modules", mi)))


Rule = Callable[[Spec, Built], Iterator[Finding]]
SPEC_RULES: tuple[Rule, ...] = (
    duplicate_ids,
    dangling_anchors,
    cycles,
    contradictions,
    near_duplicates,
    coverage,
    leakage,
    module_balance,
)


def token_budget(spec: Spec, built: Built, count: TokenCounter) -> Iterator[Finding]:
    limit = spec.passport.checks.max_tokens
    sizes = count(built.items)
    for item, n in zip(built.items, sizes, strict=True):
        if n > limit:
            yield _finding("token-budget", f"{n} tokens in {count.name}'s format "
                           f"(checks.max_tokens: {limit})", item.id)


def run_checks(
    spec: Spec, built: Built, tokens: TokenCounter | None = None, progress: Progress = quiet
) -> Report:
    """Every rule over the spec and its items; findings sorted errors first, then by place."""
    findings: list[Finding] = []
    total = len(SPEC_RULES) + (tokens is not None)
    for done, rule in enumerate(SPEC_RULES, 1):
        findings += rule(spec, built)
        progress("rules", done, total)
    if tokens is not None:
        findings += token_budget(spec, built, tokens)
        progress("rules", total, total)
    findings.sort(key=lambda f: (f.severity != "error", f.rule, f.where, f.message))
    counted = {
        "modules": len(spec.passport.modules),
        "nodes": len(spec.refs),
        "items": len(built.items),
        "self_tests": len(built.tests),
    }
    return Report(findings, counted)
