"""Importers from public and generic formats into the project's events schema.

Each importer streams its main file in chunks, validates every row (see
``rows.py``), maps it to ``user_id, item_id, event, timestamp`` plus whatever
the source has (category, price, user attributes, partner) and writes Parquet
atomically. Ratings (MovieLens) are consumptions; their strength sets the
funnel depth: < 2.5 view, < 3.5 click, < 4.5 add_to_cart, else purchase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from recmodel.data.importers.reading import DEFAULT_CHUNK_ROWS, read_delimited, read_header
from recmodel.data.bounds import MAX_TIMESTAMP, MIN_TIMESTAMP
from recmodel.data.importers.rows import (RowReport, check_ids, check_prices, parse_numbers, parse_timestamps,
                                          require_present)
from recmodel.data.importers.writer import AtomicEventsWriter
from recmodel.data.schema import EVENT_TYPES, DataError

ML_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
             "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
             "War", "Western"]


def rating_to_event(rating: pd.Series) -> np.ndarray:
    levels = np.digitize(rating.to_numpy(dtype=float), [2.5, 3.5, 4.5])
    return np.asarray(EVENT_TYPES)[levels]


@dataclass
class ImportOptions:
    skip_bad_rows: bool = False
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    mapping: dict = field(default_factory=dict)  # generic formats: schema column -> source column
    timestamp_bounds: tuple[float, float] = (MIN_TIMESTAMP, MAX_TIMESTAMP)  # plausible seconds since 1970


def _find(source: Path, name: str) -> Path:
    if not source.exists():
        raise DataError(f"{source}: directory not found")
    folder = source if source.is_dir() else source.parent
    path = folder / name
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected in {folder})")
    return path


def read_side_table(path: Path, *, names: list[str], sep: str, header: bool = False, encoding: str = "utf-8",
                    id_columns: tuple[str, ...] = (), flag_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A whole MovieLens side file, strictly: every row's field count, integer ids, 0/1 flags (no skipping)."""
    report = RowReport(str(path), skippable=False)
    frames = []
    for chunk, lines in read_delimited(path, names=names, sep=sep, header=header, report=report, encoding=encoding):
        chunk, lines = require_present(chunk, list(id_columns), lines, report)
        chunk, lines = check_ids(chunk, id_columns, lines, report)
        chunk, lines = check_ids(chunk, flag_columns, lines, report, allowed=("0", "1"), what="0 or 1")
        frames.append(chunk)
    if not frames:
        raise DataError(f"{path}: no rows")
    table = pd.concat(frames, ignore_index=True)
    for column in id_columns:
        table[column] = table[column].str.strip()
    return table


def _run(chunks, to_events: Callable, out: Path, report: RowReport) -> RowReport:
    with AtomicEventsWriter(out, report) as writer:
        for chunk, lines in chunks:
            writer.write(to_events(chunk, lines))
    return report


def _ratings_to_events(chunk, lines, report, options: ImportOptions, *, items=None, users=None) -> pd.DataFrame:
    chunk, lines = require_present(chunk, ["user", "item", "rating", "timestamp"], lines, report)
    chunk, lines = check_ids(chunk, ["user", "item"], lines, report)
    chunk, lines = parse_numbers(chunk, ["rating"], lines, report)
    bad = ~chunk["rating"].between(0.0, 5.0).to_numpy()
    keep = report.reject(bad, lines, "rating outside 0..5", "rating", chunk["rating"])
    chunk, lines = chunk[keep], lines[keep]
    chunk, lines = parse_timestamps(chunk, "timestamp", lines, report, bounds=options.timestamp_bounds)
    events = pd.DataFrame({"user_id": chunk["user"].str.strip(), "item_id": chunk["item"].str.strip(),
                           "event": rating_to_event(chunk["rating"]), "timestamp": chunk["timestamp"].to_numpy(),
                           "rating": chunk["rating"].to_numpy()})
    if items is not None:
        events = events.join(items, on="item_id")
    if users is not None:
        events = events.join(users, on="user_id")
    return events


# --- MovieLens -----------------------------------------------------------
def _set_genres(items: pd.DataFrame, genres: pd.Series) -> None:
    """``categories``: every genre, ``|``-joined as MovieLens lists them; ``category``: the first ("unknown"
    for a movie without any)."""
    genres = genres.fillna("").astype(str).str.strip().replace("", "unknown")
    items["categories"] = genres
    items["category"] = genres.str.split("|").str[0]


def import_movielens_100k(source: Path, out: Path, options: ImportOptions) -> RowReport:
    """Directory with ``u.data`` (tab), ``u.user`` and ``u.item`` (``|``, Latin-1)."""
    report = RowReport(str(_find(source, "u.data")), options.skip_bad_rows)
    items = read_side_table(_find(source, "u.item"), sep="|", encoding="latin-1",
                            names=["item_id", "title", "release", "video", "url", *ML_GENRES],
                            id_columns=("item_id",), flag_columns=tuple(ML_GENRES))
    flags = items[ML_GENRES].astype(int).to_numpy().astype(bool)
    _set_genres(items, pd.Series(["|".join(np.asarray(ML_GENRES)[row]) for row in flags], index=items.index))
    users = read_side_table(_find(source, "u.user"), sep="|", encoding="latin-1",
                            names=["user_id", "user_age", "user_gender", "user_occupation", "zip"],
                            id_columns=("user_id", "user_age"))
    chunks = read_delimited(Path(report.source), names=["user", "item", "rating", "timestamp"], sep="\t",
                            header=False, report=report, chunk_rows=options.chunk_rows)
    return _run(chunks, lambda c, l: _ratings_to_events(
        c, l, report, options, items=items.set_index("item_id")[["category", "categories", "title"]],
        users=users.set_index("user_id")[["user_age", "user_gender", "user_occupation"]]), out, report)


def import_movielens_1m(source: Path, out: Path, options: ImportOptions) -> RowReport:
    """Directory with ``ratings.dat``, ``users.dat``, ``movies.dat`` (``::``, Latin-1)."""
    report = RowReport(str(_find(source, "ratings.dat")), options.skip_bad_rows)
    movies = read_side_table(_find(source, "movies.dat"), sep="::", encoding="latin-1",
                             names=["item_id", "title", "genres"], id_columns=("item_id",))
    _set_genres(movies, movies["genres"])
    users = read_side_table(_find(source, "users.dat"), sep="::", encoding="latin-1",
                            names=["user_id", "user_gender", "user_age", "user_occupation", "zip"],
                            id_columns=("user_id", "user_age"))
    chunks = read_delimited(Path(report.source), names=["user", "item", "rating", "timestamp"], sep="::",
                            header=False, report=report, encoding="latin-1", chunk_rows=options.chunk_rows)
    return _run(chunks, lambda c, l: _ratings_to_events(
        c, l, report, options, items=movies.set_index("item_id")[["category", "categories", "title"]],
        users=users.set_index("user_id")[["user_gender", "user_age", "user_occupation"]]), out, report)


def import_movielens_latest(source: Path, out: Path, options: ImportOptions) -> RowReport:
    """Directory with ``ratings.csv`` and ``movies.csv`` (headers, quoted titles)."""
    report = RowReport(str(_find(source, "ratings.csv")), options.skip_bad_rows)
    movies = read_side_table(_find(source, "movies.csv"), sep=",", header=True, names=["item_id", "title", "genres"],
                             id_columns=("item_id",))
    _set_genres(movies, movies["genres"])
    chunks = read_delimited(Path(report.source), names=["user", "item", "rating", "timestamp"], sep=",",
                            header=True, report=report, chunk_rows=options.chunk_rows)
    return _run(chunks, lambda c, l: _ratings_to_events(
        c, l, report, options, items=movies.set_index("item_id")[["category", "categories", "title"]]), out, report)


# --- e-commerce logs -------------------------------------------------------
RETAILROCKET_EVENTS = {"view": "view", "addtocart": "add_to_cart", "transaction": "purchase"}
TAOBAO_EVENTS = {"pv": "view", "fav": "click", "cart": "add_to_cart", "buy": "purchase"}


def _map_events(chunk, lines, report, column, mapping):
    mapped = chunk[column].str.strip().map(mapping)
    keep = report.reject(mapped.isna().to_numpy(), lines, "unknown event type", column, chunk[column])
    chunk = chunk.assign(**{column: mapped})
    return chunk[keep], lines[keep]


def import_retailrocket(source: Path, out: Path, options: ImportOptions) -> RowReport:
    """``events.csv``: timestamp (ms), visitorid, event, itemid, transactionid (header)."""
    path = source / "events.csv" if source.is_dir() else source
    report = RowReport(str(path), options.skip_bad_rows)
    categories = _retailrocket_categories(path.parent)

    def to_events(chunk, lines):
        chunk, lines = require_present(chunk, ["timestamp", "visitor", "event", "item"], lines, report)
        chunk, lines = check_ids(chunk, ["visitor", "item"], lines, report)
        chunk, lines = _map_events(chunk, lines, report, "event", RETAILROCKET_EVENTS)
        chunk, lines = parse_timestamps(chunk, "timestamp", lines, report, unit="ms", bounds=options.timestamp_bounds)
        events = pd.DataFrame({"user_id": chunk["visitor"].str.strip(), "item_id": chunk["item"].str.strip(),
                               "event": chunk["event"].to_numpy(), "timestamp": chunk["timestamp"].to_numpy()})
        return events.join(categories, on="item_id") if categories is not None else events

    chunks = read_delimited(path, names=["timestamp", "visitor", "event", "item", "transaction"], sep=",",
                            header=True, report=report, chunk_rows=options.chunk_rows)
    return _run(chunks, to_events, out, report)


def _retailrocket_categories(folder: Path) -> pd.DataFrame | None:
    """Latest ``categoryid`` per item from ``item_properties_part*.csv``, if present."""
    parts = sorted(folder.glob("item_properties_part*.csv"))
    if not parts:
        return None
    found = []
    for part in parts:
        for chunk in pd.read_csv(part, dtype=str, chunksize=DEFAULT_CHUNK_ROWS):
            found.append(chunk[chunk["property"] == "categoryid"][["timestamp", "itemid", "value"]])
    table = pd.concat(found)
    table["timestamp"] = pd.to_numeric(table["timestamp"], errors="coerce")
    latest = table.sort_values("timestamp").drop_duplicates("itemid", keep="last")
    return latest.rename(columns={"itemid": "item_id", "value": "category"}).set_index("item_id")[["category"]]


def import_taobao(source: Path, out: Path, options: ImportOptions) -> RowReport:
    """``UserBehavior.csv``: user, item, category, behavior (pv/fav/cart/buy), timestamp; no header."""
    path = source / "UserBehavior.csv" if source.is_dir() else source
    report = RowReport(str(path), options.skip_bad_rows)

    def to_events(chunk, lines):
        chunk, lines = require_present(chunk, ["user", "item", "category", "behavior", "timestamp"], lines, report)
        chunk, lines = check_ids(chunk, ["user", "item", "category"], lines, report)
        chunk, lines = _map_events(chunk, lines, report, "behavior", TAOBAO_EVENTS)
        chunk, lines = parse_timestamps(chunk, "timestamp", lines, report, bounds=options.timestamp_bounds)
        return pd.DataFrame({"user_id": chunk["user"].str.strip(), "item_id": chunk["item"].str.strip(),
                             "event": chunk["behavior"].to_numpy(), "timestamp": chunk["timestamp"].to_numpy(),
                             "category": chunk["category"].str.strip()})

    chunks = read_delimited(path, names=["user", "item", "category", "behavior", "timestamp"], sep=",",
                            header=False, report=report, chunk_rows=options.chunk_rows)
    return _run(chunks, to_events, out, report)


# --- generic ---------------------------------------------------------------
RETURNS = "returns and cancellations (quantity <= 0)"


def _generic_to_events(chunk, lines, report, options: ImportOptions) -> pd.DataFrame:
    mapping = options.mapping
    required = [mapping["user"], mapping["item"], mapping["timestamp"]]
    chunk, lines = require_present(chunk, required, lines, report)
    if mapping.get("price"):
        chunk, lines = check_prices(chunk, mapping["price"], lines, report)
    chunk, lines = parse_timestamps(chunk, mapping["timestamp"], lines, report, unit=mapping.get("timestamp_unit", "s"),
                                    bounds=options.timestamp_bounds)
    if mapping.get("quantity"):
        chunk, lines = parse_numbers(chunk, [mapping["quantity"]], lines, report)
        bought = chunk[mapping["quantity"]].to_numpy(dtype=float) > 0
        report.skipped[RETURNS] += int((~bought).sum())  # a rule, not bad data: counted, never an error
        chunk, lines = chunk[bought], lines[bought]
    events = pd.DataFrame({"user_id": chunk[mapping["user"]].astype(str).str.strip(),
                           "item_id": chunk[mapping["item"]].astype(str).str.strip(),
                           "timestamp": chunk[mapping["timestamp"]].to_numpy()})
    if mapping.get("event"):
        chunk, lines = require_present(chunk, [mapping["event"]], lines, report)
        events = events.loc[chunk.index]
        values = chunk[mapping["event"]].astype(str).str.strip()
        bad = ~values.isin(EVENT_TYPES)
        keep = report.reject(bad.to_numpy(), lines, f"unknown event (allowed: {', '.join(EVENT_TYPES)})",
                             mapping["event"], values)
        events, chunk = events[keep], chunk[keep]
        events["event"] = values[keep].to_numpy()
    else:
        events["event"] = "purchase" if mapping.get("quantity") else "view"
    for target in ("partner", "category"):
        if mapping.get(target):
            events[f"{target}_id" if target == "partner" else target] = chunk[mapping[target]].astype(str).to_numpy()
    if mapping.get("price"):
        events["price"] = chunk[mapping["price"]].to_numpy(dtype=float)
    for attribute in mapping.get("user_attributes", []):
        events[f"user_{attribute}"] = chunk[attribute].astype(str).to_numpy()
    return events


def import_generic_csv(source: Path, out: Path, options: ImportOptions) -> RowReport:
    report = RowReport(str(source), options.skip_bad_rows)
    header = read_header(source)
    _check_mapping(options.mapping, header, source)
    chunks = read_delimited(source, names=header, sep=",", header=True, report=report, chunk_rows=options.chunk_rows)
    return _run(chunks, lambda c, l: _generic_to_events(c, l, report, options), out, report)


def import_generic_parquet(source: Path, out: Path, options: ImportOptions) -> RowReport:
    import pyarrow.parquet as pq

    if not source.is_file():
        raise DataError(f"{source}: file not found")
    report = RowReport(str(source), options.skip_bad_rows)
    try:
        parquet = pq.ParquetFile(source)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... for a damaged file
        raise DataError(f"{source}: not a readable Parquet file ({error})") from None
    _check_mapping(options.mapping, parquet.schema_arrow.names, source)

    def chunks():
        start = 0
        for batch in parquet.iter_batches(batch_size=options.chunk_rows):
            frame = batch.to_pandas()
            report.rows_read += len(frame)
            yield frame, np.arange(start, start + len(frame)) + 1  # row numbers, 1-based
            start += len(frame)

    return _run(chunks(), lambda c, l: _generic_to_events(c, l, report, options), out, report)


def _check_mapping(mapping: dict, columns: list[str], source: Path) -> None:
    for role in ("user", "item", "timestamp"):
        if not mapping.get(role):
            raise DataError(f"generic import needs --{role} COLUMN")
    wanted = [v for k, v in mapping.items() if k not in ("timestamp_unit", "user_attributes") and v]
    wanted += list(mapping.get("user_attributes", []))
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise DataError(f"{source}: column(s) {missing} not found; the file has {columns}")


IMPORTERS: dict[str, Callable[[Path, Path, ImportOptions], RowReport]] = {
    "movielens-100k": import_movielens_100k,
    "movielens-1m": import_movielens_1m,
    "movielens-latest": import_movielens_latest,
    "movielens-latest-small": import_movielens_latest,  # the name `fedrec data download` uses
    "retailrocket": import_retailrocket,
    "taobao": import_taobao,
    "csv": import_generic_csv,
    "parquet": import_generic_parquet,
}


def import_events(fmt: str, source: str | Path, out: str | Path, options: ImportOptions | None = None) -> RowReport:
    if fmt not in IMPORTERS:
        raise DataError(f"unknown format '{fmt}'; allowed: {', '.join(IMPORTERS)}")
    return IMPORTERS[fmt](Path(source).expanduser(), Path(out).expanduser(), options or ImportOptions())
