"""Row-level validation of imported chunks, with file and line numbers.

Strict mode (default) stops at the first bad row with the file, the line, the
column and the offending value. With ``skip_bad_rows`` bad rows are dropped
and counted by category. Line numbers are 1-based physical lines of the
source file (header included), so a user can open the file at that line.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recmodel.data.bounds import MAX_TIMESTAMP, MIN_TIMESTAMP
from recmodel.data.schema import DataError


@dataclass
class RowReport:
    """What happened to the rows of one import."""

    source: str
    skip_bad_rows: bool = False
    rows_read: int = 0
    rows_kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    duplicates: int = 0
    skippable: bool = True  # False for side files (item and user tables), which must be whole

    @property
    def _hint(self) -> str:
        return " (use --skip-bad-rows to drop such rows)" if self.skippable else ""

    def reject(self, mask: np.ndarray, lines: np.ndarray, category: str, column: str, values: pd.Series) -> np.ndarray:
        """Handle rows where ``mask`` is True; returns the mask of rows to keep."""
        if not mask.any():
            return ~mask
        first = int(np.flatnonzero(mask)[0])
        if not self.skip_bad_rows:
            raise DataError(
                f"{self.source}: line {int(lines[first])}: {category} in column '{column}': "
                f"{values.iloc[first]!r}{self._hint}"
            )
        self.skipped[category] += int(mask.sum())
        return ~mask

    def reject_lines(self, mask: np.ndarray, lines: np.ndarray, category: str, describe) -> np.ndarray:
        """Like ``reject`` for whole rows; ``describe(i)`` words the problem of row ``i``."""
        if not mask.any():
            return ~mask
        first = int(np.flatnonzero(mask)[0])
        if not self.skip_bad_rows:
            raise DataError(f"{self.source}: line {int(lines[first])}: {category}: {describe(first)}{self._hint}")
        self.skipped[category] += int(mask.sum())
        return ~mask

    def summary(self) -> str:
        parts = [f"{self.rows_read:,} rows read", f"{self.rows_kept:,} events written"]
        if self.duplicates:
            parts.append(f"{self.duplicates:,} duplicate events dropped")
        for category, count in sorted(self.skipped.items()):
            parts.append(f"{count:,} rows skipped: {category}")
        return "; ".join(parts)


def require_present(frame: pd.DataFrame, columns, lines, report: RowReport) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    for column in columns:
        values = frame[column]
        missing = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
        keep &= report.reject(missing & keep, lines, "missing value", column, values)
    return frame[keep], lines[keep]


def parse_numbers(frame: pd.DataFrame, columns, lines, report: RowReport) -> tuple[pd.DataFrame, np.ndarray]:
    """Convert ``columns`` to float; unparsable or NaN values are bad rows."""
    frame = frame.copy()
    keep = np.ones(len(frame), dtype=bool)
    for column in columns:
        raw = frame[column]
        parsed = pd.to_numeric(raw, errors="coerce")
        bad = parsed.isna().to_numpy() | ~np.isfinite(parsed.to_numpy(dtype=float, na_value=np.nan))
        keep &= report.reject(bad & keep, lines, "unparsable number", column, raw)
        frame[column] = parsed
    return frame[keep], lines[keep]




def check_prices(frame: pd.DataFrame, column: str, lines, report: RowReport) -> tuple[pd.DataFrame, np.ndarray]:
    """Prices: an empty value is a row without a price (kept, NaN); any other value must be a finite number
    >= 0 (``inf``, ``nan``, ``-5`` or text are bad rows, named like every other)."""
    raw = frame[column]
    text = raw.astype(str).str.strip()
    empty = (raw.isna() | (text == "")).to_numpy()
    parsed = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = ~empty & ~(np.isfinite(parsed) & (parsed >= 0))
    keep = report.reject(bad, lines, "price not a finite number >= 0", column, raw)
    frame = frame[keep].copy()
    frame[column] = parsed[keep]
    return frame, lines[keep]


def parse_timestamps(frame: pd.DataFrame, column: str, lines, report: RowReport, *, unit: str = "s",
                     bounds: tuple[float, float] = (MIN_TIMESTAMP, MAX_TIMESTAMP)):
    """Timestamp column to float seconds; ``unit``: s, ms or iso (any datetime text).

    Unparsable, non-finite or implausible values (outside ``bounds``, seconds since the epoch) are bad rows.
    """
    frame = frame.copy()
    raw = frame[column]
    if unit == "iso":
        parsed = pd.to_datetime(raw, errors="coerce", utc=True)
        seconds = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    else:
        seconds = pd.to_numeric(raw, errors="coerce") / (1000.0 if unit == "ms" else 1.0)
    values = seconds.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    keep = report.reject(bad, lines, "unparsable timestamp", column, raw)
    low, high = bounds
    implausible = keep & ~bad & ((values < low) | (values > high))
    keep &= report.reject(implausible, lines, f"implausible timestamp (allowed {low:g} to {high:g} seconds since "
                          "1970; see --min-timestamp/--max-timestamp)", column, raw)
    frame[column] = seconds
    return frame[keep], lines[keep]


def check_ids(frame: pd.DataFrame, columns, lines, report: RowReport, *, allowed: tuple[str, ...] = (),
              what: str = "an integer id") -> tuple[pd.DataFrame, np.ndarray]:
    """Rows whose id columns (stripped) are not digits only, or not one of ``allowed`` when given, are bad rows."""
    keep = np.ones(len(frame), dtype=bool)
    for column in columns:
        values = frame[column].astype(str).str.strip()
        valid = values.isin(allowed) if allowed else values.str.isdigit() & values.str.isascii()
        bad = ~valid.to_numpy(dtype=bool)
        keep &= report.reject(bad & keep, lines, f"unparsable id (expected {what})", column, frame[column])
    return frame[keep], lines[keep]
