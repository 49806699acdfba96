"""The signal loop: windows → features → (z-scores) → rules → operators on the overlay.

`prepare` checks everything a rules file needs against the source and the overlay before a
single window is read (channels, a rate high enough for every band, a baseline for z-scores,
node targets that exist), so a bad rule stops the run with nothing applied. Each operator
is its own transaction: a source that dies mid-run leaves every operator applied so far
whole, and nothing half-applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from overlay.engine import Overlay
from overlay.errors import SignalError
from overlay.signals.features import Baseline, Features, compute, need_rate
from overlay.signals.operators import Fired, apply, resolve
from overlay.signals.rules import Operator, RuleSet, Watcher
from overlay.signals.sources import Source

OnFired = Callable[[Fired], None]
OnWindow = Callable[[Features], None]


def features(source: Source, window: float, step: float, duration: float | None = None,
             baseline: Baseline | None = None) -> Iterator[Features]:
    """Features of each window, z-scored when a baseline is given, up to `duration` s."""
    for w in source.windows(window, step):
        if duration is not None and w.t > duration + 1e-9:
            return
        feats = compute(w)
        yield baseline.score(feats) if baseline else feats


def prepare(ruleset: RuleSet, source: Source, overlay: Overlay,
            baseline: Baseline | None) -> dict[str, Operator]:
    """Check the rules against the source, baseline and overlay; the resolved operators."""
    channels = {c.lower() for c in source.channels}
    for rule in ruleset.rules:
        for cond in rule.when:
            need_rate(cond.feature, source.rate, source.name)
            if cond.channel and cond.channel.lower() not in channels:
                raise SignalError(f"{source.name}: rule {rule.name!r} needs channel "
                                  f"{cond.channel!r}; it has {', '.join(source.channels)}")
            if cond.z:
                if baseline is None:
                    raise SignalError(f"rule {rule.name!r} compares a z-score: give a baseline "
                                      "(`baseline:` in the rules file or --baseline)")
                key = next((k for k in baseline.stats if k.lower() == (cond.channel or "")
                            .lower()), None)
                if key is None or cond.feature not in baseline.stats[key]:
                    raise SignalError(f"{baseline.source or 'the baseline'} has no "
                                      f"{cond.label()} (recorded with other channels or rate)")
    return {rule.name: resolve(overlay, rule.operator) for rule in ruleset.rules}


@dataclass
class WatchReport:
    """What a watch run saw and did."""

    source: str
    windows: int = 0
    seconds: float = 0.0
    fired: list[Fired] = field(default_factory=list)
    stopped: str = "end of signal"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "windows": self.windows, "seconds": self.seconds,
                "stopped": self.stopped, "fired": [f.to_dict() for f in self.fired]}


def watch(source: Source, ruleset: RuleSet, overlay: Overlay, baseline: Baseline | None = None,
          duration: float | None = None, on_fired: OnFired | None = None,
          on_window: OnWindow | None = None) -> WatchReport:
    """Run the rules over the source until it ends or `duration` seconds of signal;
    KeyboardInterrupt stops it cleanly (the report says so)."""
    operators = prepare(ruleset, source, overlay, baseline)
    watcher = Watcher(ruleset.rules)
    report = WatchReport(source.name)
    try:
        for feats in features(source, ruleset.window, ruleset.step, duration, baseline):
            report.windows += 1
            report.seconds = feats.t
            if on_window:
                on_window(feats)
            for rule in watcher.update(feats):
                values = {c.label(): round(c.value(feats), 4) for c in rule.when}
                fired = apply(overlay, operators[rule.name],
                              Fired(feats.t, rule.name, rule.do, values=values))
                report.fired.append(fired)
                if on_fired:
                    on_fired(fired)
        if duration is not None and report.seconds >= duration - ruleset.step:
            report.stopped = "duration reached"
    except KeyboardInterrupt:
        report.stopped = "interrupted"
    return report
