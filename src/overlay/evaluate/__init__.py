"""Evaluation in one place: the lab's arms, self-tests, locality probes, knowledge edits, the
compatibility matrix and the comparison of all four arms."""
