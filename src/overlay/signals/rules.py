"""Signal rules: `when` a feature condition has held for a duration, `do` an operator.

A rules file (YAML, schema-validated, errors name file:line:col):

    window: 2.0            # seconds of signal per window
    step: 0.5              # seconds between windows
    baseline: base.json    # optional (relative to this file); needed by `z: true`
    rules:
      - name: relaxed
        when: {feature: alpha_rel, channel: C3, above: 0.5}
        for: 2                 # seconds the condition must hold
        do: temperature(0.8)
        repeat: 30             # optional: fire again every 30 s while it keeps holding

`when` is one condition or a list (all must hold); a condition compares a feature (see
`overlay.signals.features`) of one channel, or of the channel average, raw or as a baseline
z-score, `above` and/or `below` a bound. A rule fires once when its condition has held for
`for` seconds and re-arms when the condition breaks.

Operators: `gain(x)`, `temperature(x)`, `boost(NODE|goal:NAME, x)`, `damp(NODE|goal:NAME, x)`,
`mark(good|bad)` (feedback on the latest trace), `snapshot` or `snapshot(label)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from overlay.patterns import S, W, linear
from overlay.signals.features import NAMES, Features
from overlay.yamlfile import load

_CALL = linear(rf"^[{S}]*([a-z_]+)[{S}]*(?:\((.*)\))?[{S}]*$")
_LABEL = linear(rf"^[{W}.-]{{1,40}}$")
KINDS = ("gain", "temperature", "boost", "damp", "mark", "snapshot")


@dataclass(frozen=True)
class Operator:
    """A parsed `do`: kind, its target (node ref, goal:NAME, verdict or label), its value."""

    kind: str
    target: str = ""
    value: float = 0.0

    def __str__(self) -> str:
        if self.kind in ("gain", "temperature"):
            return f"{self.kind}({self.value:g})"
        if self.kind in ("boost", "damp"):
            return f"{self.kind}({self.target}, {self.value:g})"
        return f"{self.kind}({self.target})" if self.target else self.kind


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what}: {text.strip()!r} is not a number") from None


def parse_operator(text: str) -> Operator:
    """`temperature(0.8)` → Operator("temperature", "", 0.8); errors say the valid forms."""
    m = _CALL.match(text)
    if not m or m.group(1) not in KINDS:
        raise ValueError(f"{text!r} is not an operator; one of gain(x), temperature(x), "
                         "boost(NODE|goal:NAME, x), damp(NODE|goal:NAME, x), mark(good|bad), "
                         "snapshot, snapshot(label)")
    kind, raw = m.group(1), m.group(2)
    args = [a.strip() for a in raw.split(",")] if raw is not None and raw.strip() else []
    if kind in ("gain", "temperature"):
        if len(args) != 1:
            raise ValueError(f"{kind} takes one number: {kind}(x)")
        x = _number(args[0], kind)
        if x < 0 or (kind == "gain" and x == 0):
            least = "above" if kind == "gain" else "at least"
            raise ValueError(f"{kind}({x:g}): must be {least} 0")
        return Operator(kind, "", x)
    if kind in ("boost", "damp"):
        if len(args) != 2 or not args[0]:
            raise ValueError(f"{kind} takes a node or goal:NAME and a number: {kind}(NODE, x)")
        x = _number(args[1], kind)
        if x < 0:
            raise ValueError(f"{kind}(…, {x:g}): the amount must be at least 0")
        return Operator(kind, args[0], x)
    if kind == "mark":
        if args not in (["good"], ["bad"]):
            raise ValueError("mark takes good or bad: mark(good)")
        return Operator(kind, args[0])
    if len(args) > 1 or (args and not _LABEL.match(args[0])):
        raise ValueError("snapshot takes an optional label of letters, digits, . _ -")
    return Operator(kind, args[0] if args else "")


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class Condition(BaseModel):
    """One comparison of a feature with bounds."""

    model_config = ConfigDict(extra="forbid")

    feature: str = Field(description=f"A feature: {', '.join(NAMES)}.")
    channel: str | None = Field(None, description="A channel name; omitted: the average.")
    z: bool = Field(False, description="Compare the baseline z-score instead of the value.")
    above: float | None = Field(None, description="Holds when the value is above this.")
    below: float | None = Field(None, description="Holds when the value is below this.")

    @field_validator("feature")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in NAMES:
            raise ValueError(f"unknown feature {v!r}; one of {', '.join(NAMES)}")
        return v

    @model_validator(mode="after")
    def _bounded(self) -> Condition:
        if self.above is None and self.below is None:
            raise ValueError("give `above`, `below` or both")
        if self.above is not None and self.below is not None and self.above >= self.below:
            raise ValueError(f"above {self.above:g} ≥ below {self.below:g}: it never holds")
        return self

    def value(self, feats: Features) -> float:
        return feats.get(self.feature, self.channel, self.z)

    def holds(self, feats: Features) -> bool:
        v = self.value(feats)
        return (self.above is None or v > self.above) and (self.below is None or v < self.below)

    def label(self) -> str:
        where = f"{self.channel}." if self.channel else ""
        return f"{where}{self.feature}{' z' if self.z else ''}"


class Rule(BaseModel):
    """When the conditions hold for `for` seconds, do the operator."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(description="Shown when it fires and stored in its event.")
    when: Annotated[list[Condition], BeforeValidator(_listify)] = Field(
        min_length=1, description="One condition or a list; all must hold.")
    hold: float = Field(0.0, ge=0, alias="for", description="Seconds the conditions must hold.")
    do: str = Field(description="The operator, e.g. temperature(0.8) or boost(Starter, 1).")
    repeat: float | None = Field(
        None, gt=0, description="Fire again every this many seconds while the conditions hold.")

    @field_validator("do")
    @classmethod
    def _operator(cls, v: str) -> str:
        parse_operator(v)
        return v

    @property
    def operator(self) -> Operator:
        return parse_operator(self.do)


class RuleSet(BaseModel):
    """A rules file."""

    model_config = ConfigDict(extra="forbid")

    window: float = Field(2.0, gt=0, le=60, description="Seconds of signal per window.")
    step: float = Field(0.5, gt=0, le=60, description="Seconds between windows.")
    baseline: Path | None = Field(None, description="A baseline JSON, for z-score conditions.")
    rules: list[Rule] = Field(min_length=1, description="The rules, checked in order.")

    @model_validator(mode="after")
    def _names(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"two rules are named {rule.name!r}")
            seen.add(rule.name)
        return self


def load_rules(path: Path) -> RuleSet:
    """Read and validate a rules file; a relative baseline path is relative to the file."""
    ruleset, _ = load(RuleSet, path)
    if ruleset.baseline is not None and not ruleset.baseline.is_absolute():
        ruleset = ruleset.model_copy(update={"baseline": path.parent / ruleset.baseline})
    return ruleset


class Watcher:
    """Which rules fire at each window: held long enough, once per episode (or every
    `repeat` seconds while it lasts)."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.since: dict[str, float | None] = {r.name: None for r in rules}
        self.last: dict[str, float | None] = {r.name: None for r in rules}

    def update(self, feats: Features) -> list[Rule]:
        fired = []
        for rule in self.rules:
            if not all(c.holds(feats) for c in rule.when):
                self.since[rule.name] = self.last[rule.name] = None
                continue
            since = self.since[rule.name]
            if since is None:
                since = self.since[rule.name] = feats.t
            if feats.t - since + 1e-9 < rule.hold:
                continue
            last = self.last[rule.name]
            if last is None or (rule.repeat is not None and feats.t - last + 1e-9 >= rule.repeat):
                self.last[rule.name] = feats.t
                fired.append(rule)
        return fired
