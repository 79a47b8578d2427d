"""Fuzzing the CSV and MovieLens importers: never a traceback, never a file whose rows differ from valid input rows.

Each case mutates a valid source (random extra or missing fields, random
bytes, random numbers in every column) and imports it in strict mode. The
import either stops with a one-line ``DataError`` and writes nothing, or
succeeds; then every written event must be exactly one source row, its
fields in their own columns (nothing shifted).
"""

import random

import pandas as pd
import pytest

from recmodel.data.importers import ImportOptions, import_events
from recmodel.data.schema import DataError

CASES = 120  # per importer; both together run in well under a minute here
ML_HEADER = "userId,movieId,rating,timestamp\n"
GENERIC = ImportOptions(mapping={"user": "user", "item": "item", "timestamp": "ts"})


def _valid_rows(rng: random.Random, n: int = 12) -> list[list[str]]:
    return [[str(rng.randint(1, 30)), str(rng.randint(1, 40)), rng.choice(["1.0", "2.5", "3.5", "4.0", "5.0"]),
             str(rng.randint(900_000_000, 1_600_000_000))] for _ in range(n)]


def _mutate(rng: random.Random, rows: list[list[str]]) -> list[list[str]] | bytes:
    rows = [list(r) for r in rows]
    kind = rng.choice(["extra", "missing", "bytes", "number", "number", "text"])
    target = rows[rng.randrange(len(rows))]
    column = rng.randrange(len(target))
    if kind == "extra":
        target.insert(rng.randrange(len(target) + 1), str(rng.randint(-5, 5)))
    elif kind == "missing":
        del target[column]
    elif kind == "bytes":
        return "".join(",".join(r) + "\n" for r in rows).encode() + bytes(rng.randrange(256) for _ in range(20))
    elif kind == "number":
        target[column] = rng.choice(["-1", "0", "1e308", "-1e12", "inf", "nan", "3.5", "1e9", "007", "1.5e9"])
    else:
        target[column] = rng.choice(["", " ", "x", "NULL", "1;2", '"quoted"', "\t"])
    return rows


def _expected_events(rows: list[list[str]]) -> set[tuple[str, str, float]]:
    return {(r[0].strip(), r[1].strip(), float(r[3])) for r in rows}


def _written(out) -> set[tuple[str, str, float]]:
    events = pd.read_parquet(out)
    return set(zip(events["user_id"], events["item_id"], events["timestamp"].astype(float)))


def _check(import_call, out, rows):
    try:
        import_call()
    except DataError as error:
        assert "\n" not in str(error)
        assert not out.exists()
        return "refused"
    assert isinstance(rows, list) and all(len(r) == 4 for r in rows), "a malformed file was imported"
    assert _written(out) == _expected_events(rows)
    return "imported"


def test_fuzzed_movielens_latest_never_crashes_or_shifts_columns(tmp_path):
    rng = random.Random(11)
    outcomes = []
    for case in range(CASES):
        folder = tmp_path / f"ml{case}"
        folder.mkdir()
        rows = _mutate(rng, _valid_rows(rng))
        body = rows if isinstance(rows, bytes) else "".join(",".join(r) + "\n" for r in rows).encode()
        (folder / "ratings.csv").write_bytes(ML_HEADER.encode() + body)
        (folder / "movies.csv").write_text("movieId,title,genres\n" + "".join(
            f'{i},"Movie {i}, The (1999)",Drama|Comedy\n' for i in range(1, 41)))
        out = tmp_path / f"ml{case}.parquet"
        outcomes.append(_check(lambda: import_events("movielens-latest", folder, out), out, rows))
    assert 0 < outcomes.count("refused") < CASES  # both paths were exercised


def test_fuzzed_generic_csv_never_crashes_or_shifts_columns(tmp_path):
    rng = random.Random(12)
    outcomes = []
    for case in range(CASES):
        rows = _mutate(rng, _valid_rows(rng))
        body = rows if isinstance(rows, bytes) else "".join(",".join(r) + "\n" for r in rows).encode()
        source = tmp_path / f"log{case}.csv"
        source.write_bytes(b"user,item,rating,ts\n" + body)
        out = tmp_path / f"log{case}.parquet"
        outcomes.append(_check(lambda: import_events("csv", source, out, GENERIC), out, rows))
    assert 0 < outcomes.count("refused") < CASES


@pytest.mark.parametrize("seed", range(3))
def test_random_bytes_as_every_movielens_file_end_in_one_line(tmp_path, seed):
    rng = random.Random(seed)
    folder = tmp_path / "ml"
    folder.mkdir()
    for name in ("u.data", "u.item", "u.user"):
        (folder / name).write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))))
    out = tmp_path / "e.parquet"
    with pytest.raises(DataError) as error:
        import_events("movielens-100k", folder, out)
    assert "\n" not in str(error.value) and not out.exists()
