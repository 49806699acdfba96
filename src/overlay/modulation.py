"""Modulation: the named operators that act on the selector's activation loop (docs/design.md,
"Activation"): the gain of spreading activation, the selector's temperature, and a
boost (or damp) on a node or on a goal.

The store keeps each one as a sum of signed deltas from the configured setting, like counts,
so an operator is an undoable event of `mod` ops, undo is a subtraction and merges commute.
Operators *set* a level ("temperature(0.8)" means T = 0.8 from now on): the event records the
delta from the level in force when it fired.

- gain g: spreading activation passes `min(1, decay × g)` per hop (g = 1 is the configuration);
- temperature T: added to the configured temperature (0 = argmax);
- boost b on a node: a `boost` term of b is added to its score wherever it is a candidate;
- boost b on a goal: asks with that goal weigh information toward it by `w_inf × max(0, 1 + b)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from overlay.config import SelectConfig
from overlay.errors import ConfigError
from overlay.store.base import Store

GOAL_PREFIX = "goal:"
NAMES = ("gain", "temperature", "boost")
BOOST_WEIGHT = 1.0  # a boost is in score units: 1.0 is one bit of information at w_inf = 1


@dataclass(frozen=True)
class Modulation:
    """The levels in force: deltas from the configuration, as the store sums them."""

    gain: float = 0.0
    temperature: float = 0.0
    boosts: dict[str, float] = field(default_factory=dict)  # node id → boost
    goals: dict[str, float] = field(default_factory=dict)  # goal name → boost

    @classmethod
    def from_rows(cls, rows: dict[tuple[str, str], float]) -> Modulation:
        boosts = {t: v for (n, t), v in rows.items() if n == "boost" and not _is_goal(t)}
        goals = {t[len(GOAL_PREFIX):]: v for (n, t), v in rows.items()
                 if n == "boost" and _is_goal(t)}
        return cls(rows.get(("gain", ""), 0.0), rows.get(("temperature", ""), 0.0), boosts, goals)

    def expand(self, store: Store) -> Modulation:
        """A boost on a note (a source node) reaches its blocks, which are what the selector
        weighs; a block's own boost wins over its note's."""
        if not self.boosts:
            return self
        nodes = store.get_nodes(list(self.boosts))
        reach = dict(self.boosts)
        for node_id, value in self.boosts.items():
            node = nodes.get(node_id)
            if node is not None and node.meta.get("role") == "source" and node.source_path:
                for block in store.nodes_of_source(node.source_path):
                    reach.setdefault(block.id, value)
        return Modulation(self.gain, self.temperature, reach, self.goals)

    @property
    def empty(self) -> bool:
        return not (self.gain or self.temperature or self.boosts or self.goals)

    def level(self, name: str, target: str, config: SelectConfig) -> float:
        """The level an operator sets: gain and temperature as used, a boost as stored."""
        if name == "gain":
            return 1.0 + self.gain
        if name == "temperature":
            return config.temperature + self.temperature
        if _is_goal(target):
            return self.goals.get(target[len(GOAL_PREFIX):], 0.0)
        return self.boosts.get(target, 0.0)

    def config(self, config: SelectConfig) -> SelectConfig:
        """The selector's configuration with gain and temperature applied."""
        if not (self.gain or self.temperature):
            return config
        return config.model_copy(update={
            "decay": min(1.0, max(0.0, config.decay * (1.0 + self.gain))),
            "temperature": max(0.0, config.temperature + self.temperature),
        })

    def to_dict(self) -> dict[str, Any]:
        """What a trace records: the levels in force (omitted when nothing is modulated)."""
        return {"gain": round(1.0 + self.gain, 6), "temperature_delta": self.temperature,
                "boosts": dict(self.boosts), "goal_boosts": dict(self.goals)}


def _is_goal(target: str) -> bool:
    return target.startswith(GOAL_PREFIX)


def set_op(current: Modulation, config: SelectConfig, name: str, target: str,
           value: float) -> dict[str, Any] | None:
    """The `mod` op that sets `name` (on `target`) to `value`; None when it already is."""
    if name not in NAMES:
        raise ConfigError(f"unknown modulation {name!r}; one of {', '.join(NAMES)}")
    delta = round(value - current.level(name, target, config), 9)
    if delta == 0:
        return None
    return {"op": "mod", "name": name, "target": target, "delta": delta}
