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


def field_counts(raw: list[bytes], block: bytes, sep: str, encoding: str) -> np.ndarray:
    """Fields per physical line [n] of ``raw`` (``block`` is ``b"".join(raw)``): separators + 1, or the csv
    module's count for lines with quotes. Single-byte separators are counted on the bytes with numpy."""
    sep_bytes = sep.encode(encoding)
    if len(sep_bytes) == 1:
        data = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(data == 10) + 1
        if len(ends) < len(raw):  # the last line has no newline
            ends = np.append(ends, len(data))
        seps = np.concatenate([[0], np.cumsum(data == sep_bytes[0])])
        counts = np.diff(np.concatenate([[0], seps[ends]])) + 1
    else:
        counts = np.array([line.count(sep_bytes) + 1 for line in raw])
    if len(sep_bytes) == 1 and b'"' in block:
        for i, line in enumerate(raw):
            if b'"' in line:
                text = line.decode(encoding).rstrip("\r\n")
                counts[i] = len(next(csv.reader([text], delimiter=sep), []))
    return counts


def read_header(path: Path, *, sep: str = ",", encoding: str = "utf-8") -> list[str]:
    """The column names on the first line of ``path``."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with path.open("rb") as handle:
        raw = handle.readline()
    _check_decodes([raw], path, encoding, first_line=1)
    first = raw.decode(encoding).removeprefix("\ufeff")  # a UTF-8 byte-order mark (spreadsheet exports)
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
                block = b"".join(raw)
                _check_decodes(raw, path, encoding, first_line=line_number + 1, block=block)
                numbers = np.arange(line_number + 1, line_number + 1 + len(raw))
                line_number += len(raw)
                progress.update(len(raw))
                blank = [not line.strip() for line in raw]  # skipped, as CSV readers do (a trailing empty line)
                if any(blank):
                    numbers = numbers[~np.asarray(blank)]
                    raw = [line for line, empty in zip(raw, blank) if not empty]
                    block = b"".join(raw)
                    if not raw:
                        continue
                report.rows_read += len(raw)
                counts = field_counts(raw, block, sep, encoding)
                keep_open = np.ones(len(raw), dtype=bool)
                if b'"' in block:  # an odd number of quotes: a quoted field runs on into the next line
                    spans = np.array([line.count(b'"') % 2 == 1 for line in raw])
                    keep_open = report.reject_lines(
                        spans, numbers, "quoted field spans lines",
                        lambda i: f"a quoted field continues past the end of the line (multi-line fields are not "
                                  f"read; put the value on one line) in {raw[i].decode(encoding).rstrip()[:80]!r}")
                    counts = np.where(keep_open, counts, len(names))  # named once, as the first problem
                keep = report.reject_lines(
                    counts != len(names), numbers, "wrong field count",
                    lambda i: f"expected {len(names)} fields, found {counts[i]} in "
                              f"{raw[i].decode(encoding).rstrip()[:80]!r}")
                keep &= keep_open
                if not keep.all():
                    block = b"".join(line for line, ok in zip(raw, keep) if ok)
                if not block:
                    continue
                yield _parse(block, names, sep, usecols, encoding), numbers[keep]
    finally:
        progress.close()


def _check_decodes(raw: list[bytes], path: Path, encoding: str, *, first_line: int, block: bytes | None = None) -> None:
    """The first undecodable physical line stops the import with its line number."""
    try:
        (b"".join(raw) if block is None else block).decode(encoding)
    except UnicodeDecodeError:
        for offset, line in enumerate(raw):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as error:
                raise DataError(f"{path}: line {first_line + offset}: not valid {encoding} text at byte "
                                f"{error.start} of the line") from None
        raise


def _parse(block: bytes, names: list[str], sep: str, usecols: list[str] | None, encoding: str) -> pd.DataFrame:
    """Lines already checked to hold ``len(names)`` fields -> string columns (missing values as NaN)."""
    block = io.BytesIO(block if block.endswith(b"\n") else block + b"\n")
    options = dict(names=names, header=None, index_col=False, dtype=str, skip_blank_lines=False, usecols=usecols,
                   encoding=encoding)
    if len(sep) == 1:
        return pd.read_csv(block, sep=sep, engine="c", **options)
    return pd.read_csv(block, sep=re.escape(sep), engine="python", **options)
