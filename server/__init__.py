"""Flower ServerApp: aggregation, evaluation, run artifacts."""
