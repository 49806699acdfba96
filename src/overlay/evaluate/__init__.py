"""Evaluation: how the overlay does on knowledge edits (and, later, self-tests and locality)."""
