"""The architectural passport: a YAML spec of modules, semantic nodes, anchors and transitions.

A dataset is designed like a chip: modules are blocks, nodes are the units
of meaning, anchors are I/O ports to other nodes, transitions are ordered wires with a relation,
meta markers are the interrupt level, self-tests are the test vectors. This module holds the
schema (pydantic, so `overlay dataset schema` prints a JSON Schema) and reference resolution;
`build` compiles a spec into items and `checks` runs the design rules over both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from overlay.config import DatasetConfig
from overlay.errors import SpecError
from overlay.patterns import linear
from overlay.yamlfile import Positions, load

SLUG = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
_WIKILINK = linear(r"^\[\[([^\]|#^]+)(?:[#^][^\]|]*)?(?:\|[^\]]*)?\]\]$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Statement(_Strict):
    """One claim of a node. Give `subject`, `relation` and `value` to let the contradiction rule
    compare it with other nodes' claims; plain text alone is also accepted."""

    text: str = Field(min_length=1, description="The statement as it should be learned.")
    subject: str | None = Field(None, description="What the claim is about (e.g. 'levain').")
    relation: str | None = Field(None, description="The property claimed (e.g. 'peak time').")
    value: str | None = Field(None, description="The property's value (e.g. '4–6 hours').")

    @model_validator(mode="before")
    @classmethod
    def _plain_text(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _whole_claim(self) -> Statement:
        parts = [self.subject, self.relation, self.value]
        if any(p is not None for p in parts) and not all(p for p in parts):
            raise ValueError("a claim needs all of subject, relation and value")
        return self

    @property
    def claim(self) -> tuple[str, str, str] | None:
        if self.subject and self.relation and self.value:
            return self.subject, self.relation, self.value
        return None


class Transition(_Strict):
    """An ordered link from this node to another, with the relation it carries."""

    to: str = Field(min_length=1, description="Target node: 'node', 'module.node' or '[[Title]]'.")
    relation: str = Field(
        "precedes",
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Relation name, e.g. precedes, causes, supports, contradicts, analogy.",
    )

    @model_validator(mode="before")
    @classmethod
    def _plain_target(cls, value: Any) -> Any:
        return {"to": value} if isinstance(value, str) else value


class Meta(_Strict):
    """The meta level: what the dataset should stress or treat specially."""

    importance: int = Field(3, ge=1, le=5, description="1–5; scales the number of items.")
    paradox: str | bool = Field(
        False, description="True, or a sentence saying what is paradoxical about the node."
    )
    frame_shift: str | None = Field(
        None, description="A frame to restate the node in, e.g. 'from the yeast's point of view'."
    )


class SelfTest(_Strict):
    """A held-out test vector: 'if you learned this node, answer this'."""

    question: str = Field(min_length=1, description="Asked of the model; never trained on.")
    answer: str = Field(min_length=1, description="The expected answer.")
    variants: list[str] = Field(default_factory=list, description="Other acceptable answers.")
    distractors: list[str] = Field(
        default_factory=list, description="Wrong answers for choose-style scoring."
    )


class Generation(_Strict):
    """How many items of each kind a node yields (spec-wide defaults, overridable per node)."""

    qa: int = Field(3, ge=0, le=50, description="Templated question/answer items per node.")
    cloze: int = Field(2, ge=0, le=50, description="Fill-in-the-blank items per node.")
    paraphrase: int = Field(2, ge=0, le=50, description="Templated restatements per node.")
    dialogue: int = Field(1, ge=0, le=20, description="Short two-turn dialogues per node.")
    anchor: bool = Field(True, description="Items connecting a node to each of its anchors.")
    walk: bool = Field(True, description="Items following the node's transitions.")
    walk_length: int = Field(3, ge=2, le=10, description="Nodes in the longest walk item.")
    lm_paraphrases: int = Field(
        0, ge=0, le=10, description="Paraphrases written by the LM backend (0: templates only)."
    )
    lm_dialogues: int = Field(
        0, ge=0, le=10, description="Dialogues whose answers the LM backend rewords."
    )
    max_new_tokens: int = Field(64, ge=8, le=512, description="Token limit per LM generation.")


class GenerationOverride(_Strict):
    """Per-node generation settings; a field left out keeps the spec-wide value."""

    qa: int | None = Field(None, ge=0, le=50)
    cloze: int | None = Field(None, ge=0, le=50)
    paraphrase: int | None = Field(None, ge=0, le=50)
    dialogue: int | None = Field(None, ge=0, le=20)
    anchor: bool | None = None
    walk: bool | None = None
    walk_length: int | None = Field(None, ge=2, le=10)
    lm_paraphrases: int | None = Field(None, ge=0, le=10)
    lm_dialogues: int | None = Field(None, ge=0, le=10)
    max_new_tokens: int | None = Field(None, ge=8, le=512)


class Checks(_Strict):
    """Thresholds of the design-rule checks."""

    min_items: int = Field(3, ge=0, description="Training items every node must have.")
    min_self_tests: int = Field(1, ge=0, description="Self-tests every node must have.")
    near_duplicate: float = Field(
        0.8, gt=0, le=1, description="Estimated Jaccard similarity at which texts are duplicates."
    )
    leakage: float = Field(
        0.5, gt=0, le=1, description="Share of a self-test question's n-grams seen in one prompt."
    )
    leakage_ngram: int = Field(
        8, ge=2, le=13, description="n of the n-grams; shorter questions use their own length."
    )
    balance: float = Field(
        4.0, ge=1, description="Largest allowed ratio of items between two modules."
    )
    max_tokens: int = Field(
        1024, ge=16, description="Token budget of one item in the base model's chat template."
    )
    acyclic: list[str] = Field(
        default_factory=lambda: ["precedes", "causes"],
        description="Relations whose transitions must not form a cycle.",
    )


class Node(_Strict):
    """A semantic node: statements, anchors (ports), transitions, meta markers, self-tests."""

    id: str = Field(pattern=SLUG, description="Unique within its module.")
    title: str | None = Field(None, description="Human name; defaults to the id.")
    aliases: list[str] = Field(default_factory=list, description="Other names for anchors.")
    statements: list[Statement] = Field(min_length=1, description="What the node says.")
    anchors: list[str] = Field(
        default_factory=list, description="Other nodes: 'node', 'module.node' or '[[Title]]'."
    )
    transitions: list[Transition] = Field(default_factory=list, description="Ordered links.")
    meta: Meta = Field(default_factory=Meta)
    self_tests: list[SelfTest] = Field(default_factory=list, description="Held-out tests.")
    generation: GenerationOverride | None = Field(None, description="Overrides for this node.")
    source: str | None = Field(None, description="Provenance, e.g. 'vault/Levain.md:6'.")

    @model_validator(mode="before")
    @classmethod
    def _one_statement(cls, value: Any) -> Any:
        if isinstance(value, dict) and "statement" in value:
            value = dict(value)
            one = value.pop("statement")
            value.setdefault("statements", [])
            value["statements"] = [one, *value["statements"]]
        return value

    @property
    def name(self) -> str:
        return self.title or self.id


class Module(_Strict):
    """A block of the design: a group of nodes trained (and later imprinted) together."""

    id: str = Field(pattern=SLUG, description="Unique within the spec.")
    title: str | None = Field(None, description="Human name; defaults to the id.")
    description: str | None = None
    nodes: list[Node] = Field(min_length=1)


class Passport(_Strict):
    """The whole spec (`passport.yaml`)."""

    name: str = Field(min_length=1, description="Dataset name.")
    version: str = Field("0.1.0", description="The spec's own version.")
    description: str | None = None
    base_model: str = Field(
        "smollm2", description="Model whose tokenizer bounds item length: 'smollm2' or a folder."
    )
    language: str = Field("en", description="Language code for the dataset card.")
    license: str | None = Field(None, description="License named in the dataset card.")
    formats: list[Literal["sft-chat", "pretrain-text"]] = Field(
        default_factory=lambda: ["sft-chat"],  # type: ignore[arg-type]
        min_length=1,
        description="sft-chat: chat messages; pretrain-text: plain text for continued pretraining.",
    )
    generation: Generation = Field(default_factory=Generation)
    checks: Checks = Field(default_factory=Checks)
    modules: list[Module] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


def settings_for(spec: Passport, node: Node) -> Generation:
    """The node's generation settings: spec-wide defaults with its overrides applied."""
    if node.generation is None:
        return spec.generation
    return spec.generation.model_copy(update=node.generation.model_dump(exclude_none=True))


@dataclass(frozen=True)
class NodeRef:
    """A node with where it sits: module and node index (for spec positions), and its key."""

    module: str
    mi: int
    ni: int
    node: Node

    @property
    def key(self) -> str:
        return f"{self.module}.{self.node.id}"

    @property
    def path(self) -> tuple[str | int, ...]:
        return ("modules", self.mi, "nodes", self.ni)


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass
class Spec:
    """A loaded passport with its positions, source bytes and lookup tables."""

    passport: Passport
    positions: Positions
    path: Path
    sha256: str
    refs: list[NodeRef] = field(default_factory=list)
    _by_key: dict[str, NodeRef] = field(default_factory=dict)
    _by_id: dict[str, list[NodeRef]] = field(default_factory=dict)
    _by_name: dict[str, list[NodeRef]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for mi, module in enumerate(self.passport.modules):
            for ni, node in enumerate(module.nodes):
                ref = NodeRef(module.id, mi, ni, node)
                self.refs.append(ref)
                self._by_key.setdefault(ref.key, ref)
                self._by_id.setdefault(node.id, []).append(ref)
                for name in {_fold(node.name), _fold(node.id), *map(_fold, node.aliases)}:
                    self._by_name.setdefault(name, []).append(ref)

    def candidates(self, target: str, module: str) -> list[NodeRef]:
        """The nodes `target` may name, seen from `module` (its own module's nodes first)."""
        target = target.strip()
        link = _WIKILINK.match(target)
        if link:
            found = self._by_name.get(_fold(link.group(1)), [])
        elif target in self._by_key:
            return [self._by_key[target]]
        else:
            found = self._by_id.get(target, [])
        same = [r for r in found if r.module == module]
        return same or found

    def resolve(self, target: str, module: str) -> NodeRef | None:
        """The node `target` names, seen from `module`; None when it names none or several."""
        found = self.candidates(target, module)
        return found[0] if len(found) == 1 else None

    def where(self, path: tuple[str | int, ...]) -> str:
        return self.positions.where(path)


def load_spec(path: Path, limits: DatasetConfig | None = None) -> Spec:
    """Read, validate and index a passport file; schema errors name file, line and column.
    A file over `limits.max_spec_bytes` is refused unread, and one with more than
    `limits.max_spec_nodes` nodes once read."""
    limits = limits or DatasetConfig()
    passport, positions = load(Passport, path, limits.max_spec_bytes)
    nodes = sum(len(m.nodes) for m in passport.modules)
    if nodes > limits.max_spec_nodes:
        raise SpecError(f"{nodes:,} nodes, over the limit of {limits.max_spec_nodes:,} "
                        "(dataset.max_spec_nodes)", path, None, None)
    return Spec(passport, positions, path, hashlib.sha256(path.read_bytes()).hexdigest())


def json_schema() -> dict[str, Any]:
    """The JSON Schema of `passport.yaml` (for editors and `overlay dataset schema`)."""
    return Passport.model_json_schema()
