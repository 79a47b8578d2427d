from pathlib import Path

import pandas as pd
import pytest

from recmodel.data.importers import ImportOptions, import_events
from recmodel.data.schema import load_events


def _imported(fmt, source, tmp_path, **mapping):
    out = tmp_path / "events.parquet"
    report = import_events(fmt, source, out, ImportOptions(mapping=mapping))
    return load_events(out), report


def test_movielens_100k(ml100k_dir, tmp_path):
    events, report = _imported("movielens-100k", ml100k_dir, tmp_path)
    assert report.rows_read == report.rows_kept == 6
    assert (events["user_id"].nunique(), events["item_id"].nunique()) == (3, 3)
    row = events[(events.user_id == "196") & (events.item_id == "242")].iloc[0]
    assert (row.event, row.timestamp, row.category, row.user_age, row.user_occupation) == (
        "click", 881250949.0, "Comedy", "49", "writer")
    assert row.categories == "Comedy"  # a genre flag each: one genre
    assert "Kolyä (1996)" in set(events["title"])  # Latin-1 decoded
    assert set(events["event"]) == {"view", "click", "add_to_cart", "purchase"}


def test_blank_lines_are_skipped_as_csv_readers_do_and_line_numbers_stay_true(ml100k_dir, tmp_path):
    user = ml100k_dir / "u.user"
    user.write_text("\n" + user.read_text() + "\n\n")  # a blank first line and trailing blank lines
    data = ml100k_dir / "u.data"
    data.write_text(data.read_text().replace("\n", "\n\n", 1) + "196\t242\tfour\t881250949\n")
    with pytest.raises(Exception, match="line 8"):  # the bad rating is on physical line 8, blank line counted
        _imported("movielens-100k", ml100k_dir, tmp_path)
    data.write_text(data.read_text().rsplit("196\t242\tfour", 1)[0])
    events, report = _imported("movielens-100k", ml100k_dir, tmp_path)
    assert report.rows_read == report.rows_kept == 6 and events["user_age"].notna().all()


def test_movielens_1m_double_colon_and_latin1(ml1m_dir, tmp_path):
    events, _ = _imported("movielens-1m", ml1m_dir, tmp_path)
    assert len(events) == 3
    peach = events[events.item_id == "661"].iloc[0]
    assert (peach.category, peach.title, peach.user_gender) == ("Animation", "James and the Giant Pêche (1996)", "F")
    assert peach.categories == "Animation|Children's|Musical"  # every genre, the first as category
    assert events[events.rating == 5.0].iloc[0].event == "purchase"


def test_movielens_latest_half_stars_and_quoted_titles(ml_latest_dir, tmp_path):
    events, _ = _imported("movielens-latest", ml_latest_dir, tmp_path)
    assert list(events.sort_values(["user_id", "item_id"])["event"]) == ["add_to_cart", "purchase", "click"]
    assert "American President, The (1995)" in set(events["title"])
    assert set(events["categories"]) == {"Adventure|Animation|Children|Comedy|Fantasy", "Comedy|Drama|Romance"}


def test_retailrocket_events_and_latest_category(retailrocket_dir, tmp_path):
    events, _ = _imported("retailrocket", retailrocket_dir, tmp_path)
    assert sorted(events["event"]) == ["add_to_cart", "purchase", "view", "view"]
    assert events["timestamp"].min() == pytest.approx(1433221332.117)
    assert set(events[events.item_id == "355908"]["category"]) == {"1200"}


def test_taobao_headerless(taobao_file, tmp_path):
    events, _ = _imported("taobao", taobao_file, tmp_path)
    assert len(events) == 5
    assert dict(zip(events.item_id + events.user_id, events.event))["2576651" + "1"] == "purchase"
    assert set(events["event"]) == {"view", "purchase", "add_to_cart", "click"}
    assert events[events.item_id == "2268318"]["category"].iloc[0] == "2520377"


def test_generic_csv_with_mapping(tmp_path):
    source = tmp_path / "log.csv"
    source.write_text("who,what,when,kind,shop,cost,age\nu1,a,2024-01-01T10:00:00Z,view,s1,9.5,30\n"
                      "u1,b,2024-01-02T10:00:00Z,purchase,s1,3,30\n")
    events, _ = _imported("csv", source, tmp_path, user="who", item="what", timestamp="when", timestamp_unit="iso",
                          event="kind", partner="shop", price="cost", user_attributes=["age"])
    assert list(events["partner_id"]) == ["s1", "s1"] and list(events["user_age"]) == ["30", "30"]
    assert events["timestamp"].iloc[0] == pd.Timestamp("2024-01-01T10:00:00Z").timestamp()


def test_a_byte_order_mark_before_the_header_is_not_part_of_the_first_column(tmp_path):
    source = tmp_path / "log.csv"
    source.write_bytes("\ufeffwho,what,when\nu1,a,1700000000\nu2,b,1700000100\n".encode("utf-8"))
    events, _ = _imported("csv", source, tmp_path, user="who", item="what", timestamp="when")
    assert list(events["user_id"]) == ["u1", "u2"]


@pytest.mark.parametrize("price", ["inf", "-5", "free", "1e999"])  # "nan" reads as a missing value
def test_a_price_that_is_not_a_finite_number_of_zero_or_more_is_a_named_bad_row(tmp_path, price):
    source = tmp_path / "log.csv"
    source.write_text(f"who,what,when,cost\nu1,a,1700000000,9.5\nu1,b,1700000100,\nu2,c,1700000200,{price}\n")
    with pytest.raises(Exception, match=f"line 4: price not a finite number >= 0 in column 'cost': '{price}'"):
        _imported("csv", source, tmp_path, user="who", item="what", timestamp="when", price="cost")
    out = tmp_path / "kept.parquet"
    report = import_events("csv", source, out, ImportOptions(mapping={"user": "who", "item": "what",
                                                                      "timestamp": "when", "price": "cost"},
                                                             skip_bad_rows=True))
    prices = load_events(out)["price"]
    assert report.rows_kept == 2 and prices.iloc[0] == 9.5 and pd.isna(prices.iloc[1])  # empty: no price


def test_generic_parquet(tmp_path):
    source = tmp_path / "log.parquet"
    pd.DataFrame({"u": [1, 2], "i": [10, 11], "t": [100, 200]}).to_parquet(source)
    events, _ = _imported("parquet", source, tmp_path, user="u", item="i", timestamp="t")
    assert list(events["user_id"]) == ["1", "2"] and set(events["event"]) == {"view"}


def test_duplicates_are_dropped_and_counted(taobao_file, tmp_path):
    taobao_file.write_text(taobao_file.read_text() * 3)
    events, report = _imported("taobao", taobao_file, tmp_path)
    assert len(events) == 5 and report.duplicates == 10


SHARED_ML = Path(__file__).resolve().parents[5] / "shared" / "data" / "ml-latest-small"


@pytest.mark.skipif(not (SHARED_ML / "ratings.csv").is_file(),
                    reason=f"real MovieLens ml-latest-small not found at {SHARED_ML} (the shared data folder is absent)")
def test_the_real_ml_latest_small_imports_strictly_without_a_bad_row(tmp_path):
    report = import_events("movielens-latest-small", SHARED_ML, tmp_path / "ml.parquet")
    events = load_events(tmp_path / "ml.parquet")
    assert report.rows_read == 100_836 and not report.skipped
    assert len(events) == 100_836 and events["user_id"].nunique() == 610


def test_a_quantity_column_makes_purchases_and_drops_returns_and_cancellations(tmp_path):
    """The UCI Online Retail shape: cancelled invoices and returns carry quantity <= 0."""
    source = tmp_path / "retail.parquet"
    pd.DataFrame({"InvoiceNo": ["536365", "536365", "C536379", "536380"], "StockCode": ["85123A", "71053", "D", "22086"],
                  "Quantity": [6, 6, -1, 0], "InvoiceDate": ["2010-12-01 08:26:00"] * 3 + ["2010-12-01 09:41:00"],
                  "UnitPrice": [2.55, 3.39, 27.5, 2.1], "CustomerID": [17850.0, 17850.0, 14527.0, 17850.0]}
                 ).to_parquet(source, index=False)
    out = tmp_path / "events.parquet"
    report = import_events("parquet", source, out, ImportOptions(mapping={
        "user": "CustomerID", "item": "StockCode", "timestamp": "InvoiceDate", "timestamp_unit": "iso",
        "price": "UnitPrice", "quantity": "Quantity"}))
    events = pd.read_parquet(out)
    assert sorted(events["item_id"]) == ["71053", "85123A"] and set(events["event"]) == {"purchase"}
    assert report.skipped["returns and cancellations (quantity <= 0)"] == 2
    assert "returns and cancellations (quantity <= 0)" in report.summary()
