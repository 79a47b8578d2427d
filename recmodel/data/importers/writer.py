"""Write events to Parquet atomically, chunk by chunk, with duplicates dropped.

Chunks go to a hidden temporary file next to the target; duplicate events
(same user, item, event and timestamp) are found from 64-bit row hashes (8
bytes per row in memory) and removed in a second streaming pass; only then is
the result renamed onto the target. On any error the temporary files are
removed: a failed import never leaves a partial output file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recmodel.data.importers.rows import RowReport

KEY_COLUMNS = ["user_id", "item_id", "event", "timestamp"]


class AtomicEventsWriter:
    def __init__(self, target: str | Path, report: RowReport) -> None:
        self.target = Path(target)
        self.report = report
        self.staging = self.target.with_name(f".{self.target.name}.staging")
        self.final_tmp = self.target.with_name(f".{self.target.name}.tmp")
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._hashes: list[np.ndarray] = []

    def __enter__(self) -> "AtomicEventsWriter":
        self.target.parent.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, events: pd.DataFrame) -> None:
        """Append one chunk in the events schema (ids as strings)."""
        if events.empty:
            return
        events = events.reset_index(drop=True)
        for column in ("user_id", "item_id"):
            events[column] = events[column].astype(str)
        table = pa.Table.from_pandas(events, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.staging, self._schema)
        self._writer.write_table(table.cast(self._schema))
        self._hashes.append(pd.util.hash_pandas_object(events[KEY_COLUMNS], index=False).to_numpy())

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._finish()
        finally:
            if self._writer is not None and exc_type is not None:
                self._writer.close()
            for leftover in (self.staging, self.final_tmp):
                if leftover.exists():
                    leftover.unlink()

    def _finish(self) -> None:
        if self._writer is None:
            from recmodel.data.schema import DataError

            raise DataError(f"{self.report.source}: no valid events to write")
        self._writer.close()
        hashes = np.concatenate(self._hashes)
        _, first_index = np.unique(hashes, return_index=True)
        keep = np.zeros(len(hashes), dtype=bool)
        keep[first_index] = True
        self.report.duplicates = int((~keep).sum())
        self.report.rows_kept = int(keep.sum())
        offset = 0
        with pq.ParquetWriter(self.final_tmp, self._schema) as out:
            for batch in pq.ParquetFile(self.staging).iter_batches(batch_size=1_000_000):
                mask = keep[offset : offset + batch.num_rows]
                offset += batch.num_rows
                out.write_table(pa.Table.from_batches([batch]).filter(pa.array(mask)))
        os.replace(self.final_tmp, self.target)
