"""Chunked reading of delimited text with exact line numbers, exact field counts and a progress bar.

Every physical line is a row (quoted fields may hold the separator but not a
line break). Before parsing, each line's field count is checked against the
format's: a row with an extra or a missing field stops the import with the
file, the line and both counts (strict mode), or is skipped and counted
(``--skip-bad-rows``); pandas never gets the chance to shift columns.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
from tqdm import tqdm

from recmodel.data.importers.rows import RowReport
from recmodel.data.schema import DataError

DEFAULT_CHUNK_ROWS = 500_000


def field_counts(lines: list[str], sep: str) -> np.ndarray:
    """Fields per line [n]: separators + 1, or the csv module's count for lines with quotes."""
    text = pd.Series(lines, dtype=object).str.rstrip("\r\n")
    counts = text.str.count(re.escape(sep)).to_numpy() + 1
    if len(sep) == 1:
        for i in np.flatnonzero(text.str.contains('"', regex=False).to_numpy()):
            counts[i] = len(next(csv.reader([text.iloc[i]], delimiter=sep), []))
    return counts


def read_header(path: Path, *, sep: str = ",", encoding: str = "utf-8") -> list[str]:
    """The column names on the first line of ``path``."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with path.open("rb") as handle:
        first = _decoded([handle.readline()], path, encoding, first_line=1)[0]
    if not first.strip():
        raise DataError(f"{path}: empty file (no header line)")
    return next(csv.reader([first.rstrip("\r\n")], delimiter=sep))


def read_delimited(
    path: Path,
    *,
    names: list[str],
    sep: str,
    header: bool,
    report: RowReport,
    encoding: str = "utf-8",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    usecols: list[str] | None = None,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield (chunk of string columns, 1-based source line of each row); every row has ``len(names)`` fields."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    progress = tqdm(desc=f"reading {path.name}", unit=" rows", unit_scale=True, file=sys.stderr,
                    disable=not sys.stderr.isatty())
    line_number = 0
    try:
        with path.open("rb") as handle:
            if header:
                handle.readline()
                line_number = 1
            while True:
                raw = list(itertools.islice(handle, chunk_rows))
                if not raw:
                    break
                lines = _decoded(raw, path, encoding, first_line=line_number + 1)
                numbers = np.arange(line_number + 1, line_number + 1 + len(lines))
                line_number += len(lines)
                report.rows_read += len(lines)
                progress.update(len(lines))
                counts = field_counts(lines, sep)
                keep = report.reject_lines(
                    counts != len(names), numbers, "wrong field count",
                    lambda i: f"expected {len(names)} fields, found {counts[i]} in {lines[i].rstrip()[:80]!r}")
                kept = [line for line, ok in zip(lines, keep) if ok]
                if not kept:
                    continue
                yield _parse(kept, names, sep, usecols), numbers[keep]
    finally:
        progress.close()


def _decoded(raw: list[bytes], path: Path, encoding: str, *, first_line: int) -> list[str]:
    """Decode physical lines; the first undecodable one stops the import with its line number."""
    try:
        return [line.decode(encoding) for line in raw]
    except UnicodeDecodeError:
        for offset, line in enumerate(raw):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as error:
                raise DataError(f"{path}: line {first_line + offset}: not valid {encoding} text at byte "
                                f"{error.start} of the line") from None
        raise


def _parse(lines: list[str], names: list[str], sep: str, usecols: list[str] | None) -> pd.DataFrame:
    """Lines already checked to hold ``len(names)`` fields -> string columns (missing values as NaN)."""
    text = io.StringIO("".join(line if line.endswith("\n") else line + "\n" for line in lines))
    if len(sep) == 1:
        return pd.read_csv(text, sep=sep, names=names, header=None, index_col=False, dtype=str,
                           skip_blank_lines=False, usecols=usecols, engine="c")
    return pd.read_csv(text, sep=re.escape(sep), names=names, header=None, index_col=False, dtype=str,
                       skip_blank_lines=False, usecols=usecols, engine="python")
