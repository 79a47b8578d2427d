"""The site's recommendation API and its HTTP service on a run trained in the test (``trained_run``)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from recmodel.data.schema import DataError
from recmodel.http_service import create_app
from recmodel.model.served_model import served_model
from recmodel.site_recommender import SiteRecommender, UnknownId


@pytest.fixture(scope="module")
def site(trained_run):
    run_dir, events_file, _ = trained_run
    return SiteRecommender.load(run_dir, events_file)


def test_a_known_customer_gets_k_unseen_trained_items_from_the_history_path(site, trained_run):
    _, _, events = trained_run
    answer = site.recommend("u000003", k=5)
    assert answer["path"] == "history" and [i["rank"] for i in answer["items"]] == [1, 2, 3, 4, 5]
    seen = set(events.loc[events["user_id"] == "u000003", "item_id"])
    assert not seen & {i["item_id"] for i in answer["items"]}
    scores = [i["score"] for i in answer["items"]]
    assert scores == sorted(scores, reverse=True) and not any(i["new_item"] for i in answer["items"])
    kept = site.recommend("u000003", k=60, keep_seen=True)
    assert seen <= {i["item_id"] for i in kept["items"]}


def test_filters_exclude_items_and_keep_only_the_asked_categories(site, trained_run):
    _, _, events = trained_run
    first = site.recommend("u000003", k=3)["items"][0]["item_id"]
    assert first not in {i["item_id"] for i in site.recommend("u000003", k=3, exclude=[first])["items"]}
    category = events["category"].iloc[0]
    only = site.recommend("u000003", k=5, categories=[category])["items"]
    assert only and {i["category"] for i in only} == {category}


def test_a_new_customer_gets_the_cold_start_path_and_attributes_change_the_answer(site):
    plain = site.recommend("newcustomer", k=5)
    assert plain["path"] == "cold start: the DP item prior" and len(plain["items"]) == 5
    with_attributes = site.recommend("newcustomer", k=5, attributes={"user_region": 2, "user_age_group": 5})
    assert with_attributes["path"] == "cold start: attributes and the DP item prior"
    assert [i["score"] for i in plain["items"]] != [i["score"] for i in with_attributes["items"]]
    with pytest.raises(DataError, match="unknown user attribute"):
        site.recommend("newcustomer", attributes={"shoe_size": 44})


def test_a_posted_session_is_scored_like_a_customer_with_that_history(site, trained_run):
    _, _, events = trained_run
    history = events[events["user_id"] == "u000003"].sort_values("timestamp")
    session = site.recommend_for_history(list(history["item_id"]), k=5, keep_seen=True,
                                         attributes={c: history[c].iloc[0] for c in site.serving.attribute_names})
    customer = site.recommend("u000003", k=5, keep_seen=True)
    assert session["path"] == "session"
    assert [i["item_id"] for i in session["items"]][:3] == [i["item_id"] for i in customer["items"]][:3]
    with pytest.raises(UnknownId, match="unknown item id 'nope'"):
        site.recommend_for_history(["nope"])


def test_similar_items_come_from_the_embeddings_and_a_new_item_from_its_category(site, trained_run):
    run_dir, events_file, events = trained_run
    item = str(events["item_id"].iloc[0])
    similar = site.similar_items(item, k=4)
    assert similar["path"] == "item embeddings (cosine)" and len(similar["items"]) == 4
    assert item not in {i["item_id"] for i in similar["items"]}
    new = events.iloc[[0]].assign(item_id="brand-new", user_id="u000001")
    with_new = events_file.with_name("with-new-item.parquet")
    pd.concat([events, new]).to_parquet(with_new, index=False)
    site_with_new = SiteRecommender.load(run_dir, with_new)
    answer = site_with_new.similar_items("brand-new", k=3)
    assert answer["path"] == "new item: its category's items by the DP item prior"
    assert {i["category"] for i in answer["items"]} == {new["category"].iloc[0]}
    cold = site_with_new.recommend("u000005", k=60, new_items=True)["items"]
    assert [i["item_id"] for i in cold if i["new_item"]] == ["brand-new"]  # scored from category and price
    assert "brand-new" not in {i["item_id"] for i in site_with_new.recommend("u000005", k=60)["items"]}


@pytest.fixture(scope="module")
def repeat_site(trained_run, tmp_path_factory):
    """The trained run over a log in which 40 customers bought their first purchase again a day later."""
    run_dir, _, events = trained_run
    bought = events[events["event"] == "purchase"].sort_values("timestamp").drop_duplicates("user_id").head(40)
    again = bought.assign(timestamp=bought["timestamp"] + 86400.0)
    path = tmp_path_factory.mktemp("repeats") / "events.parquet"
    pd.concat([events, again]).to_parquet(path, index=False)
    return SiteRecommender.load(run_dir, path), bought


def test_buy_again_ranks_only_the_customers_own_purchases_and_the_mixed_list_holds_both(repeat_site, trained_run):
    site, bought = repeat_site
    _, _, events = trained_run
    user = str(bought["user_id"].iloc[0])
    purchased = set(events.loc[(events["user_id"] == user) & (events["event"] == "purchase"), "item_id"])
    again = site.buy_again(user, k=5)
    assert again["path"].startswith("buy again") and {i["item_id"] for i in again["items"]} <= purchased
    assert again["items"][0]["item_id"] == str(bought["item_id"].iloc[0]) or len(purchased) > 1
    mixed = site.mixed(user, k=10)
    flags = [i["buy_again"] for i in mixed["items"]]
    assert len(mixed["items"]) == 10 and any(flags) and not all(flags) and mixed["path"].startswith("mixed")
    assert len({i["item_id"] for i in mixed["items"]}) == 10 and [i["rank"] for i in mixed["items"]] == list(range(1, 11))
    with pytest.raises(UnknownId):
        site.buy_again("nobody")
    without = events.loc[~events["user_id"].isin(set(events.loc[events["event"] == "purchase", "user_id"])), "user_id"]
    if len(without):
        with pytest.raises(DataError, match="no purchase"):
            site.buy_again(str(without.iloc[0]))


def test_profiles_name_categories_and_value(site):
    profile = site.profile("u000003")
    assert len(profile["top_categories"]) == 3 and len(profile["profile"]) == 16
    assert all(" or " not in c["category"] and c["category"].startswith("cat") for c in profile["top_categories"])
    assert abs(sum(c["share"] for c in profile["top_categories"])) <= 1.0
    assert profile["value"]["events"] > 0


def test_distinctive_categories_find_what_the_customer_favours(site, trained_run):
    """The generator's ground truth (each user's two favourite categories, never read by fedrec): the first
    distinctive category of most customers is one of them."""
    _, _, events = trained_run
    favourites = events.drop_duplicates("user_id").set_index("user_id")["latent_favourites"]
    customers = list(favourites.index[:60])
    found = [site.profile(user)["distinctive_categories"] for user in customers]
    named = [(answer[0]["category"], user) for answer, user in zip(found, customers) if answer]
    assert len(named) >= 0.9 * len(customers)
    right = np.mean([name in favourites[user] for name, user in named])
    commonest = events["category"].value_counts().index[0]  # what a profile that is only the prior names
    baseline = np.mean([commonest in favourites[user] for user in customers])
    assert right >= 0.85 and right >= baseline + 0.2, (right, baseline)
    assert all(c["share"] >= 1.2 * c["all_users_share"] for answer in found for c in answer)
    with pytest.raises(UnknownId):
        site.profile("nobody")


def test_the_selected_model_is_served_unless_told_otherwise_and_named(trained_run, tmp_path):
    run_dir, events_file, _ = trained_run
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    shutil.copytree(run_dir, run / "selected" / "round-2", ignore=shutil.ignore_patterns("selected"))
    (run / "summary.json").write_text(json.dumps({"rounds": 3, "selected": {
        "round": 2, "model": "selected/round-2", "by": "valid-ndcg@10 of the central evaluation"}}))
    assert served_model(run).round == 2 and served_model(run).folder == run / "selected" / "round-2"
    assert "selected by valid-ndcg@10" in served_model(run).why
    assert served_model(run, "last").round == 3 and served_model(run, "last").folder == run
    assert served_model(run / "selected" / "round-2").round == 2
    assert SiteRecommender.load(run, events_file).recommend("u000003", k=1)["model_round"] == 2


def test_the_http_service_answers_and_names_errors(site):
    client = TestClient(create_app(site))
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/model").json()["items"] == len(site.catalogue)
    answer = client.get("/users/u000003/recommendations", params={"k": 4, "exclude": ["i000001"]}).json()
    assert len(answer["items"]) == 4 and answer["path"] == "history"
    posted = client.post("/recommendations", json={"items": ["i000001", "i000002"], "k": 3}).json()
    assert posted["path"] == "session" and len(posted["items"]) == 3
    assert client.get("/users/newcustomer/recommendations").json()["path"].startswith("cold start")
    assert client.get("/items/i000001/similar", params={"k": 2}).status_code == 200
    assert client.get("/users/u000003/profile").json()["user_id"] == "u000003"
    buyer = str(site.serving.events.loc[site.serving.events["event"] == "purchase", "user_id"].iloc[0])
    assert client.get(f"/users/{buyer}/buy-again", params={"k": 3}).json()["path"].startswith("buy again")
    assert len(client.get(f"/users/{buyer}/mixed", params={"k": 4}).json()["items"]) == 4
    missing = client.get("/items/nope/similar")
    assert missing.status_code == 404 and "unknown item id 'nope'" in missing.json()["detail"]
    assert client.get("/users/u000003/recommendations", params={"k": 0}).status_code == 422
    assert client.get("/users/u000003/recommendations", params={"k": 10**6}).status_code == 422
    assert "/users/{user_id}/recommendations" in client.get("/openapi.json").json()["paths"]
    assert np.isfinite([i["score"] for i in answer["items"]]).all()
