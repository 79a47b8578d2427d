"""Simulation helpers and benchmarks (run from a checkout of the repository)."""
