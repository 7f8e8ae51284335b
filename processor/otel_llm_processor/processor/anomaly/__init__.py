"""Processor ``anomaly``: streaming detectors, budgets, unpriced models and runaway traces."""
