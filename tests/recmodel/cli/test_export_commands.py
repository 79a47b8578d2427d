"""``fedrec recommend`` and ``fedrec profile`` on a run trained in the test (tiny, few seconds)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tests.recmodel.conftest import USERS  # the shared trained_run fixture's users

FEDREC = str(Path(sys.executable).parent / "fedrec")


def fedrec(*args):
    return subprocess.run([FEDREC, *map(str, args)], capture_output=True, text=True)


def test_recommend_writes_k_unseen_raw_items_per_user_in_rank_order(trained_run, tmp_path):
    run_dir, events_file, events = trained_run
    out = tmp_path / "recs.csv"
    result = fedrec("recommend", "--run", run_dir, "--data", events_file, "--top-k", 5, "--out", out)
    assert result.returncode == 0, result.stderr
    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    assert list(recs.columns) == ["user_id", "item_id", "category", "rank", "score", "model_round"]  # no title
    category_of = events.drop_duplicates("item_id").set_index("item_id")["category"]
    assert (recs["category"].to_numpy() == category_of.loc[recs["item_id"]].to_numpy()).all()
    assert set(recs["user_id"]) == set(events["user_id"])
    assert (recs.groupby("user_id").size() == 5).all()
    assert set(recs["item_id"]) <= set(events["item_id"])  # raw ids such as i000042, not hashed rows
    for _, group in recs.groupby("user_id"):
        assert list(group["rank"]) == [1, 2, 3, 4, 5]
        assert (np.diff(group["score"].to_numpy()) <= 1e-9).all()
    seen = set(zip(events["user_id"], events["item_id"]))
    assert not any((u, i) in seen for u, i in zip(recs["user_id"], recs["item_id"]))


def test_recommend_for_a_user_list_and_unknown_ids(trained_run, tmp_path):
    run_dir, events_file, _ = trained_run
    out = tmp_path / "two.csv"
    assert fedrec("recommend", "--run", run_dir, "--data", events_file, "--top-k", 3, "--out", out,
                  "--users", "u000001,u000007").returncode == 0
    assert sorted(pd.read_csv(out)["user_id"].unique()) == ["u000001", "u000007"]
    bad = fedrec("recommend", "--run", run_dir, "--data", events_file, "--out", tmp_path / "x.csv", "--users", "nobody")
    assert bad.returncode == 2 and "unknown user id(s) ['nobody']" in bad.stderr
    assert not (tmp_path / "x.csv").exists()


def test_a_subset_export_equals_the_full_export_row_for_row(trained_run, tmp_path):
    run_dir, events_file, _ = trained_run
    full, subset = tmp_path / "full.csv", tmp_path / "subset.csv"
    assert fedrec("recommend", "--run", run_dir, "--data", events_file, "--out", full).returncode == 0
    for chosen in (["u000000"], ["u000000", "u000002"]):
        result = fedrec("recommend", "--run", run_dir, "--data", events_file, "--out", subset, "--force",
                        "--users", ",".join(chosen))
        assert result.returncode == 0, result.stderr
        expected = pd.read_csv(full, dtype={"user_id": str, "item_id": str})
        expected = expected[expected["user_id"].isin(chosen)].reset_index(drop=True)
        got = pd.read_csv(subset, dtype={"user_id": str, "item_id": str})
        assert len(got) == 10 * len(chosen)
        pd.testing.assert_frame_equal(got, expected)


def test_items_the_run_never_trained_on_are_counted_and_never_recommended(trained_run, tmp_path):
    run_dir, _, events = trained_run
    extra = events.head(3).assign(item_id="brand-new-item", user_id=["u000001", "u000001", "newcomer"])
    data = tmp_path / "with-new.parquet"
    pd.concat([events, extra], ignore_index=True).to_parquet(data, index=False)
    out = tmp_path / "recs.csv"
    result = fedrec("recommend", "--run", run_dir, "--data", data, "--out", out, "--verbose")
    assert result.returncode == 0, result.stderr
    assert "note: 1 item(s) in --data are not in the run's training catalogue" in result.stdout
    assert "1 user(s) interacted only with such items" in result.stdout
    assert "unknown items: brand-new-item" in result.stdout and "newcomer" in result.stdout
    assert "brand-new-item" not in set(pd.read_csv(out, dtype=str)["item_id"])


def test_more_segments_than_users_is_refused_in_one_line(trained_run, tmp_path):
    run_dir, events_file, _ = trained_run
    result = fedrec("profile", "--run", run_dir, "--data", events_file, "--out", tmp_path / "p.parquet",
                    "--segments", 1000)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"--segments 1000: more segments than the {USERS} users" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_profile_segments_group_users_with_similar_latent_interests(trained_run, tmp_path):
    run_dir, events_file, events = trained_run
    out = tmp_path / "profiles.parquet"
    result = fedrec("profile", "--run", run_dir, "--data", events_file, "--out", out, "--segments", 6)
    assert result.returncode == 0, result.stderr
    profiles = pd.read_parquet(out)
    assert len(profiles) == USERS and len(profiles["profile"].iloc[0]) == 16
    assert profiles["top_categories"].str.count(":").eq(3).all()
    assert {"days_since_last_event", "events", "purchases", "spend"} <= set(profiles.columns)
    assert profiles["events"].sum() == len(events)  # counts, not normalised values
    summary = pd.read_csv(tmp_path / "profiles_segments.csv")
    assert len(summary) == 6 and (summary["users"] > 0).all() and summary["users"].sum() == USERS
    assert summary["description"].str.contains("users .* over-represented in .* days before the latest event").all()
    assert (tmp_path / "profiles_segments.png").read_bytes()[:4] == b"\x89PNG"

    favourites = events.drop_duplicates("user_id").set_index("user_id")["latent_favourites"]
    segment = profiles.set_index("user_id")["segment"].loc[favourites.index].to_numpy()
    fav = favourites.to_numpy()
    same_interest = fav[:, None] == fav[None, :]
    same_segment = segment[:, None] == segment[None, :]
    off_diagonal = ~np.eye(len(fav), dtype=bool)
    p_same_given_interest = same_segment[same_interest & off_diagonal].mean()
    p_same_at_random = same_segment[off_diagonal].mean()
    assert p_same_given_interest > 1.5 * p_same_at_random
