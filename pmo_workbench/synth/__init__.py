"""Deterministic synthetic project with ground truth (``pmo synth``)."""
