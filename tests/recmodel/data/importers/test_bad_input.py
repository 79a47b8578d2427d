"""Every kind of bad row: strict mode names file, line and problem; nothing half-written."""

import re

import pytest

from recmodel.data.importers import ImportOptions, import_events
from recmodel.data.schema import DataError, load_events

GOOD = "1,2268318,2520377,pv,1511544070\n1,2333346,2520771,pv,1511561733\n"


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ("7,8,9,pv,1511544070,extra\n", "wrong field count: expected 5 fields, found 6 in '7,8,9,pv,1511544070,extra'"),
        ("7,8,9,pv,yesterday\n", "unparsable timestamp in column 'timestamp': 'yesterday'"),
        (",8,9,pv,1511544070\n", "missing value in column 'user'"),
        ("7,8,9,pv,NaN\n", "missing value in column 'timestamp'"),
        ("7,8,9,like,1511544070\n", "unknown event type in column 'behavior': 'like'"),
        ("7,8,9,pv\n", "wrong field count: expected 5 fields, found 4"),
        ("7,8,9,pv,inf\n", "unparsable timestamp in column 'timestamp': 'inf'"),
        ("7,8,9,pv,1e308\n", "implausible timestamp"),
        ("7,8,9,pv,-1e12\n", "implausible timestamp"),
        ("7x,8,9,pv,1511544070\n", "unparsable id (expected an integer id) in column 'user': '7x'"),
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
                                    "wrong field count": 1}
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
    with pytest.raises(DataError, match=f"^{tmp_path / 'nodir'}: directory not found"):
        import_events("movielens-100k", tmp_path / "nodir", tmp_path / "e.parquet")
    with pytest.raises(DataError, match=f"^{tmp_path / 'none.csv'}: file not found"):
        import_events("csv", tmp_path / "none.csv", tmp_path / "e.parquet",
                      ImportOptions(mapping={"user": "u", "item": "i", "timestamp": "t"}))


def test_a_csv_whose_rows_all_have_an_extra_field_is_refused_not_shifted(tmp_path):
    source = tmp_path / "log.csv"
    source.write_text("user,item,timestamp\nu1,i1,1600000000,x\nu2,i2,1600000001,y\n")
    with pytest.raises(DataError, match="line 2: wrong field count: expected 3 fields, found 4"):
        import_events("csv", source, tmp_path / "e.parquet",
                      ImportOptions(mapping={"user": "user", "item": "item", "timestamp": "timestamp"}))


def _movielens_100k(folder, *, data="1\t10\t4\t881250949\n2\t20\t3\t891717742\n",
                    item="10|Movie (1995)|01-Jan-1995||http://x|" + "|".join("0" * 19) + "\n"
                         "20|Other (1996)|01-Jan-1996||http://y|" + "|".join("1" + "0" * 18) + "\n"):
    folder.mkdir()
    (folder / "u.data").write_text(data)
    (folder / "u.item").write_text(item)
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    return folder


def test_a_movielens_u_data_with_five_fields_is_refused(tmp_path):
    folder = _movielens_100k(tmp_path / "ml", data="1\t10\t4\t881250949\t9\n2\t20\t3\t891717742\t9\n")
    with pytest.raises(DataError, match=r"u.data: line 1: wrong field count: expected 4 fields, found 5"):
        import_events("movielens-100k", folder, tmp_path / "e.parquet")


@pytest.mark.parametrize("item, problem", [
    ("garbage\n", "u.item: line 1: wrong field count: expected 24 fields, found 1"),
    ("x|Movie|||u|" + "|".join("0" * 19) + "\n", "u.item: line 1: unparsable id (expected an integer id) in column 'item_id'"),
    ("10|Movie|||u|" + "|".join("2" * 19) + "\n", "u.item: line 1: unparsable id (expected 0 or 1) in column 'unknown'"),
])
def test_a_garbage_movielens_side_file_is_refused(tmp_path, item, problem):
    folder = _movielens_100k(tmp_path / "ml", item=item)
    with pytest.raises(DataError, match=re.escape(problem)):
        import_events("movielens-100k", folder, tmp_path / "e.parquet")


@pytest.mark.parametrize("content, problem", [
    (b"", "empty file"),
    (b"\xff\xfe\x00garbage\x81\n", "not valid utf-8 text"),
])
def test_empty_and_binary_csv_files_end_in_one_line(tmp_path, content, problem):
    source = tmp_path / "log.csv"
    source.write_bytes(content)
    with pytest.raises(DataError, match=problem):
        import_events("csv", source, tmp_path / "e.parquet", ImportOptions(mapping={"user": "u", "item": "i",
                                                                                     "timestamp": "t"}))


def test_a_zero_byte_parquet_ends_in_one_line(tmp_path):
    source = tmp_path / "log.parquet"
    source.write_bytes(b"")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        import_events("parquet", source, tmp_path / "e.parquet", ImportOptions(mapping={"user": "u", "item": "i",
                                                                                         "timestamp": "t"}))
    with pytest.raises(DataError, match="unknown format 'lastfm'; allowed: movielens-100k"):
        import_events("lastfm", tmp_path, tmp_path / "e.parquet")


def test_generic_mapping_errors_name_the_columns(tmp_path):
    source = tmp_path / "log.csv"
    source.write_text("who,what,when\nu,i,1\n")
    with pytest.raises(DataError, match=r"column\(s\) \['item'\] not found; the file has \['who', 'what', 'when'\]"):
        import_events("csv", source, tmp_path / "e.parquet", ImportOptions(mapping={"user": "who", "item": "item", "timestamp": "when"}))


def test_a_quoted_field_spanning_lines_is_named_at_its_first_line(tmp_path):
    source = tmp_path / "log.csv"
    source.write_text('who,what,when,note\nu1,a,1700000000,"Hello\nWorld"\nu2,b,1700000100,"fine, quoted"\n')
    options = ImportOptions(mapping={"user": "who", "item": "what", "timestamp": "when"})
    with pytest.raises(DataError, match="line 2: quoted field spans lines"):
        import_events("csv", source, tmp_path / "out.parquet", options)
    assert not (tmp_path / "out.parquet").exists()
