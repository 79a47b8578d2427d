"""Plausibility bounds of imported values (no dependencies: the CLI shows them as defaults)."""

MIN_TIMESTAMP = 0.0  # 1970-01-01: earlier values are taken for garbage
MAX_TIMESTAMP = 4_102_444_800.0  # 2100-01-01
