"""Chunked reading of delimited text with exact line numbers and a progress bar."""

from __future__ import annotations

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
_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


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
    """Yield (chunk of string columns, 1-based source line of each row).

    A row with too many fields is a "wrong column count" error in strict mode,
    and skipped (counted) with ``report.skip_bad_rows``. Rows with too few
    fields come through with missing values and fail the caller's checks.
    """
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    multi_char = len(sep) > 1
    skipped_lines: list[int] = []

    def count_bad_line(fields: list[str]) -> None:
        skipped_lines.append(len(fields))
        return None

    options = dict(
        sep=sep, names=names, header=0 if header else None, dtype=str, encoding=encoding,
        chunksize=chunk_rows, skip_blank_lines=False, usecols=usecols,
        engine="python" if (multi_char or report.skip_bad_rows) else "c",
        on_bad_lines=count_bad_line if report.skip_bad_rows else "error",
    )
    if multi_char:
        options["sep"] = re.escape(sep)
    first_line = 2 if header else 1
    rows_seen = 0
    progress = tqdm(desc=f"reading {path.name}", unit=" rows", unit_scale=True, file=sys.stderr,
                    disable=not sys.stderr.isatty())
    try:
        for chunk in pd.read_csv(path, **options):
            lines = np.arange(rows_seen, rows_seen + len(chunk)) + first_line
            rows_seen += len(chunk)
            report.rows_read += len(chunk)
            progress.update(len(chunk))
            yield chunk, lines
    except pd.errors.ParserError as error:
        match = _FIELD_COUNT.search(str(error))
        if match:
            expected, line, saw = match.groups()
            raise DataError(f"{path}: line {line}: wrong column count: expected {expected} fields, saw {saw} "
                            "(use --skip-bad-rows to drop such rows)") from None
        raise DataError(f"{path}: cannot parse: {error}") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not valid {encoding} text near byte {error.start}") from None
    finally:
        progress.close()
    if skipped_lines:
        report.skipped["wrong column count"] += len(skipped_lines)
        report.rows_read += len(skipped_lines)
