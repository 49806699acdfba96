"""Applying an operator to the overlay: each one is one event (undoable, in history), and
the selector's next trace carries its effect: signals act on the overlay only through operators.

- gain / temperature / boost / damp → a `signal` event of `mod` ops (`overlay.modulation`);
- mark(good|bad) → a `feedback` event on the latest trace, with the rule that gave it;
- snapshot → a copy of the store next to it, recorded as a `snapshot` event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overlay.config import DEFAULT_DB
from overlay.engine import Overlay
from overlay.errors import ConflictError, NotFoundError
from overlay.modulation import GOAL_PREFIX
from overlay.patterns import W, linear
from overlay.signals.rules import Operator

_UNLABEL = linear(rf"[^{W}.-]+")


@dataclass
class Fired:
    """One operator a rule fired: what it did (event id) or why nothing changed (note)."""

    t: float
    rule: str
    operator: str
    event: int | None = None
    note: str = ""
    values: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return vars(self)


def resolve(overlay: Overlay, op: Operator) -> Operator:
    """The operator with its node target resolved to a full id, by id, id prefix or a note's
    title (errors before anything runs)."""
    if op.kind not in ("boost", "damp") or op.target.startswith(GOAL_PREFIX):
        return op
    try:
        return Operator(op.kind, overlay.note(op.target).id, op.value)
    except NotFoundError as exc:
        raise NotFoundError(f"{op}: {exc}") from None


def snapshots_folder(overlay: Overlay) -> Path:
    """Beside the store's file; for a database, in ./.overlay (a snapshot is a file)."""
    where = overlay.path
    return (where.parent if isinstance(where, Path) else DEFAULT_DB.parent) / "snapshots"


def apply(overlay: Overlay, op: Operator, fired: Fired) -> Fired:
    """Do `op` now; fills `fired.event` (or `fired.note` when there was nothing to do)."""
    why: dict[str, Any] = {"operator": fired.operator, "rule": fired.rule, "t": fired.t,
                           "values": fired.values}
    if op.kind in ("gain", "temperature"):
        fired.event = overlay.modulate(op.kind, "", op.value, **why)
    elif op.kind in ("boost", "damp"):
        value = op.value if op.kind == "boost" else -op.value
        fired.event = overlay.modulate("boost", op.target, value, **why)
    elif op.kind == "mark":
        trace = overlay.latest_trace()
        if trace is None:
            fired.note = "no trace yet to mark"
            return fired
        try:
            fired.event = overlay.feedback(trace, op.target, **why)["event"]
        except (ConflictError, NotFoundError) as exc:  # already judged, or nothing to count
            fired.note = str(exc)
            return fired
    else:
        label = op.target or _UNLABEL.sub("-", fired.rule)[:40]
        fired.event = overlay.snapshot(snapshots_folder(overlay), label, **why)["event"]
    if fired.event is None:
        fired.note = "already in force"
    return fired
