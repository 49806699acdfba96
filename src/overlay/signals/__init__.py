"""Signal adapters: measured states (EEG) act on the overlay only through
named operators (gain, temperature, boost/damp, mark, snapshot), fired by rules over band-power
features of windows from a file, an LSL stream or BrainFlow's synthetic board."""

from overlay.signals.features import BANDS, Baseline, Features, compute
from overlay.signals.loop import WatchReport, features, prepare, watch
from overlay.signals.rules import Operator, RuleSet, load_rules, parse_operator
from overlay.signals.sources import Source, Window, open_source

__all__ = [
    "BANDS",
    "Baseline",
    "Features",
    "Operator",
    "RuleSet",
    "Source",
    "WatchReport",
    "Window",
    "compute",
    "features",
    "load_rules",
    "open_source",
    "parse_operator",
    "prepare",
    "watch",
]
