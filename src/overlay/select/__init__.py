"""The selector: candidates from the overlay, scored with the LM, chosen, traced."""

from overlay.select.selector import NOTHING_KNOWN, Selector, plain

__all__ = ["NOTHING_KNOWN", "Selector", "plain"]
