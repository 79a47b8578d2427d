"""The events schema and loading of events files (Parquet or CSV).

Required columns: ``user_id``, ``item_id``, ``event``, ``timestamp``.
Optional: ``partner_id``, ``category``, ``price`` and user attribute columns
named ``user_<attribute>`` (for example ``user_age_group``).

``event`` is one of ``view``, ``click``, ``add_to_cart``, ``purchase``;
``timestamp`` is seconds since the Unix epoch (int or float) or any value
pandas parses as a datetime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recmodel.errors import DataError  # noqa: F401  (re-exported: recmodel.data.schema.DataError)

REQUIRED_COLUMNS = ("user_id", "item_id", "event", "timestamp")
EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")
EVENT_LEVEL = {name: level for level, name in enumerate(EVENT_TYPES)}
USER_ATTRIBUTE_PREFIX = "user_"


def user_attribute_columns(events: pd.DataFrame) -> list[str]:
    """Columns holding per-user attributes, in sorted (stable) order."""
    return sorted(
        c for c in events.columns if c.startswith(USER_ATTRIBUTE_PREFIX) and c != "user_id"
    )


def load_events(path: str | Path) -> pd.DataFrame:
    """Read an events file and check it against the schema.

    Returns a DataFrame with at least the required columns; ``timestamp`` is
    converted to float seconds.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: events file not found")
    if path.suffix not in (".parquet", ".csv"):
        raise DataError(f"{path}: unsupported extension '{path.suffix}' (use .parquet or .csv)")
    try:
        # opened by Python, so that every read of an events file is visible to audit hooks (sys.addaudithook):
        # tests/deploy checks with one that the deployed coordinator never opens a partner's file
        with path.open("rb") as handle:
            events = pd.read_parquet(handle) if path.suffix == ".parquet" else pd.read_csv(handle)
    except DataError:
        raise
    except Exception as error:  # pyarrow / pandas raise many types
        raise DataError(f"{path}: cannot read events file: {error}") from error
    return validate_events(events, source=str(path))


def validate_events(events: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Check required columns, event names, ids and timestamps; normalise timestamp."""
    missing = [c for c in REQUIRED_COLUMNS if c not in events.columns]
    if missing:
        raise DataError(
            f"{source}: missing required column(s) {missing}; "
            f"found {list(events.columns)}"
        )
    if events.empty:
        raise DataError(f"{source}: the file holds no events")
    for column in ("user_id", "item_id"):
        bad = events[column].isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{source}: row {row}: missing {column}")
    unknown = ~events["event"].isin(EVENT_TYPES)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DataError(
            f"{source}: row {row}: unknown event {events['event'].iloc[row]!r}; "
            f"allowed: {', '.join(EVENT_TYPES)}"
        )
    return events.assign(timestamp=_timestamps_as_seconds(events["timestamp"], source))  # other columns shared


def _timestamps_as_seconds(column: pd.Series, source: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column):
        seconds = column.astype("float64")
    else:
        parsed = pd.to_datetime(column, errors="coerce", utc=True)
        seconds = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    bad = seconds.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{source}: row {row}: unparsable timestamp {column.iloc[row]!r}")
    return seconds
