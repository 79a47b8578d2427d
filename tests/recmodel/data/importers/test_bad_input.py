"""Every kind of bad row: strict mode names file, line and problem; nothing half-written."""

import pytest

from recmodel.data.importers import ImportOptions, import_events
from recmodel.data.schema import DataError, load_events

GOOD = "1,2268318,2520377,pv,1511544070\n1,2333346,2520771,pv,1511561733\n"


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ("7,8,9,pv,1511544070,extra\n", "wrong column count: expected 5 fields, saw 6"),
        ("7,8,9,pv,yesterday\n", "unparsable timestamp in column 'timestamp': 'yesterday'"),
        (",8,9,pv,1511544070\n", "missing value in column 'user'"),
        ("7,8,9,pv,NaN\n", "missing value in column 'timestamp'"),
        ("7,8,9,like,1511544070\n", "unknown event type in column 'behavior': 'like'"),
        ("7,8,9,pv\n", "missing value in column 'timestamp'"),
    ],
)
def test_strict_mode_names_file_line_and_problem_and_writes_nothing(tmp_path, bad_line, problem):
    source = tmp_path / "UserBehavior.csv"
    source.write_text(GOOD + bad_line + GOOD)
    out = tmp_path / "out" / "events.parquet"
    with pytest.raises(DataError) as error:
        import_events("taobao", source, out)
    assert str(error.value).startswith(f"{source}: line 3: {problem}")
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no staging or temporary files either


def test_skip_bad_rows_counts_by_category(tmp_path):
    source = tmp_path / "UserBehavior.csv"
    source.write_text(GOOD + "7,8,9,pv,yesterday\n,8,9,pv,1\n7,8,9,like,1\n7,8,9,pv,1,extra\n" + GOOD)
    out = tmp_path / "events.parquet"
    report = import_events("taobao", source, out, ImportOptions(skip_bad_rows=True))
    assert dict(report.skipped) == {"unparsable timestamp": 1, "missing value": 1, "unknown event type": 1,
                                    "wrong column count": 1}
    assert report.duplicates == 2 and report.rows_kept == 2 == len(load_events(out))
    assert "1 rows skipped: missing value" in report.summary()


def test_header_lines_count_in_line_numbers(tmp_path):
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,four,964981247\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n1,A,Comedy\n3,B,Drama\n")
    with pytest.raises(DataError, match=r"ratings.csv: line 3: unparsable number in column 'rating': 'four'"):
        import_events("movielens-latest", folder, tmp_path / "e.parquet")


def test_missing_source_files_are_named(tmp_path):
    with pytest.raises(DataError, match=r"u.data: file not found"):
        import_events("movielens-100k", tmp_path, tmp_path / "e.parquet")
    with pytest.raises(DataError, match="unknown format 'lastfm'; allowed: movielens-100k"):
        import_events("lastfm", tmp_path, tmp_path / "e.parquet")


def test_generic_mapping_errors_name_the_columns(tmp_path):
    source = tmp_path / "log.csv"
    source.write_text("who,what,when\nu,i,1\n")
    with pytest.raises(DataError, match=r"column\(s\) \['item'\] not found; the file has \['who', 'what', 'when'\]"):
        import_events("csv", source, tmp_path / "e.parquet", ImportOptions(mapping={"user": "who", "item": "item", "timestamp": "when"}))
