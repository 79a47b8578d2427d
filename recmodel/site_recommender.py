"""Recommendations at a partner site, in process: the Python API behind ``fedrec serve``.

    from recmodel.site_recommender import SiteRecommender
    site = SiteRecommender.load("runs/<run>", "my_events.parquet")        # the selected model by default
    site.recommend("u000042", k=10)                                       # a known customer
    site.recommend("someone-new", k=10, attributes={"user_region": 3})    # cold start: attributes + DP prior
    site.recommend_for_history(["i000010", "i000311"], k=5)               # a session or a new visitor
    site.similar_items("i000010", k=10)
    site.buy_again("u000042", k=10); site.mixed("u000042", k=10)   # repeat purchases (recmodel.buy_again)
    site.audience(item_id="i000010", size=500); site.audience(category="cat03", size=500)
    site.profile("u000042")

Every answer is a dict (JSON-ready) naming the model round it came from and the ``path`` that answered:

- ``history``: a customer of the site's file, scored on their history and attributes;
- ``session``: an ad-hoc history posted with the request (a visitor the file does not hold);
- ``cold start``: no history: the user's attributes (if given) and the model's item prior (the DP-noised
  popularity the federation released), biases and category terms alone;
- ``buy again`` / ``mixed``: the customer's own past items (repeat-aware), alone or mixed with new ones.

Items the run never trained on are left out unless ``new_items=True``; then they are scored from their category
and price alone (their item rows read as zero) and each is marked ``new_item``. Seen items are left out unless
``keep_seen``; ``exclude`` drops given item ids; ``categories`` keeps only items with one of those categories
(any of an item's categories). Serving stays at the site and releases nothing: it reads the site's own
events file.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from recmodel.audiences import already_acted, audience_scores, top_audience
from recmodel.buy_again import (PurchaseHistories, item_repeat_rates, mixed_list, purchase_histories, repeat_scores,
                                slot_pattern)
from recmodel.customer_value import category_shares, customer_value
from recmodel.data.ad_hoc_users import ad_hoc_users
from recmodel.data.category_names import category_row_names
from recmodel.data.item_categories import items_in_categories
from recmodel.data.examples import candidates_batch
from recmodel.data.interactions import Users, user_dense_features
from recmodel.data.profile_features import summarise
from recmodel.data.schema import EVENT_LEVEL, DataError
from recmodel.model.shared_candidates import score_shared_candidates
from recmodel.segment_descriptions import distinctive_categories
from recmodel.segments import kmeans
from recmodel.serving import ServingData, item_descriptions, load_for_serving, serving_reference_time

PADDING_ROW = 0  # items the run never trained on read this row (catalogue-row models)
MIX_SAMPLE = 500  # customers whose held-out last purchase decides the mixed list's slots


class UnknownId(DataError):
    """A user or item id the site's file does not hold (HTTP 404)."""


class SiteRecommender:
    """One run's model over one site's events file; safe to call from one thread at a time per instance."""

    def __init__(self, serving: ServingData) -> None:
        self.serving = serving
        self.catalogue, self.users, self.config = serving.catalogue, serving.users, serving.config
        self.model = serving.model.eval()
        if self.catalogue.catalogue_rows:  # new items read the padding row: make it neutral (zero) for them
            with torch.no_grad():
                dlrm = self.model.dlrm
                dlrm.sparse_arch.candidate_item.weight[PADDING_ROW] = 0.0
                dlrm.item_bias.weight[PADDING_ROW] = 0.0
                dlrm.item_prior[PADDING_ROW] = 0.0
        self.row_of_user = {str(u): i for i, u in enumerate(self.users.user_ids)}
        self.position_of_item = {str(i): p for p, i in enumerate(self.catalogue.item_ids)}
        names = item_descriptions(serving.events, self.catalogue.item_ids)
        self.item_names = {column: names[column].to_numpy() for column in names.columns}
        self.all_items = np.arange(len(self.catalogue))
        self._repeat: tuple[PurchaseHistories, np.ndarray] | None = None
        self._patterns: dict[int, list[bool]] = {}
        self._segments: dict[tuple[int, int], np.ndarray] = {}
        self._distinctive: dict[int, list] = {}  # top_categories -> per customer, from the site's own events

    @classmethod
    def load(cls, run: str | Path, data: str | Path, *, which: str = "selected") -> "SiteRecommender":
        """The run's selected model (``which="last"``: the last round's) over the site's events file ``data``."""
        return cls(load_for_serving(run, data, which=which))

    # ----- what is served -------------------------------------------------------------------------------------
    def model_info(self) -> dict:
        """The served model (folder, round, why), the site's users and items, and how many items it trained on."""
        return {"model": self.serving.served.to_dict(), "users": len(self.users), "items": len(self.catalogue),
                "trained_items": int(self.serving.known_items.sum()),
                "user_attributes": list(self.serving.attribute_names)}

    # ----- recommendations ------------------------------------------------------------------------------------
    def recommend(self, user_id: str, k: int = 10, *, attributes: dict | None = None, exclude=(),
                  keep_seen: bool = False, categories=None, new_items: bool = False) -> dict:
        """Top ``k`` for a customer of the file (``history``), or for an unknown id (``cold start``, from
        ``attributes`` if given)."""
        row = self.row_of_user.get(str(user_id))
        if row is None:
            users = self._visitors([[]], [attributes or {}])
            return self._top(users, 0, k, _cold_start(attributes), user_id=str(user_id), exclude=exclude,
                             keep_seen=True, categories=categories, new_items=new_items)
        if attributes:
            raise DataError(f"user {user_id} is in the site's file: attributes come from it, not the request")
        return self._top(self.users, row, k, "history", user_id=str(user_id), exclude=exclude, keep_seen=keep_seen,
                         categories=categories, new_items=new_items)

    def recommend_for_history(self, item_ids, k: int = 10, *, attributes: dict | None = None, exclude=(),
                              keep_seen: bool = False, categories=None, new_items: bool = False) -> dict:
        """Top ``k`` for an ad-hoc history (oldest first; a session's clicks, a new visitor's first items)."""
        positions = [self._item_position(i) for i in item_ids]
        users = self._visitors([positions], [attributes or {}])
        return self._top(users, 0, k, "session" if positions else _cold_start(attributes), user_id=None,
                         exclude=exclude, keep_seen=keep_seen, categories=categories, new_items=new_items)

    def similar_items(self, item_id: str, k: int = 10) -> dict:
        """The ``k`` trained items whose item embeddings are closest (cosine) to ``item_id``'s; for an item the run
        never trained on, its category's items with the largest item prior (``path`` says which)."""
        position = self._item_position(item_id)
        known = self.serving.known_items.copy()
        known[position] = False
        if self.serving.known_items[position]:
            table = self.model.dlrm.sparse_arch.candidate_item.weight.detach()
            vectors = torch.nn.functional.normalize(table[torch.from_numpy(self.catalogue.item_rows)], dim=1)
            scores = (vectors @ vectors[position]).double().numpy()
            path = "item embeddings (cosine)"
        else:
            prior = self.model.dlrm.item_prior.detach().double().numpy()[self.catalogue.item_rows]
            scores = np.where(self.catalogue.category_rows == self.catalogue.category_rows[position], prior, -np.inf)
            path = "new item: its category's items by the DP item prior"
        scores[~known] = -np.inf
        return {"item_id": str(item_id), "path": path, **self._round(), "items": self._ranked(scores, k)}

    # ----- buy again --------------------------------------------------------------------------------------------
    def buy_again(self, user_id: str, k: int = 10) -> dict:
        """A customer's own past items, most likely to be bought again first (``recmodel.buy_again``)."""
        row = self._customer(user_id)
        self._check_k(k)
        histories, rates = self._repeat_facts()
        if not len(histories.of(row)):
            raise DataError(f"user {user_id} has no purchase in the site's file: nothing to buy again")
        items, scores = repeat_scores(histories.of(row), self._scores(self.users, row), rates)
        ranked = np.full(len(self.catalogue), -np.inf)
        ranked[items] = scores
        return {"user_id": str(user_id), "path": "buy again: the customer's own items", **self._round(),
                "items": self._ranked(ranked, k)}

    def mixed(self, user_id: str, k: int = 10) -> dict:
        """``k`` items for a customer: buy-again and new items (``recommend``) in the slots the site's own
        held-out purchases favour (``mix_pattern``)."""
        again = self.buy_again(user_id, k)["items"]
        new = self.recommend(user_id, k)["items"]
        pattern = self.mix_pattern(k)
        by_id = {item["item_id"]: item for item in again + new}
        again_ids = [i["item_id"] for i in again]
        bought = set(again_ids)
        picked = mixed_list(again_ids, [i["item_id"] for i in new], pattern)
        return {"user_id": str(user_id), "path": f"mixed: {sum(pattern)} of {k} slots buy again, as the site's "
                                                 "own held-out purchases favour", **self._round(),
                "items": [{**by_id[item], "rank": rank, "buy_again": item in bought}
                          for rank, item in enumerate(picked, start=1)]}

    def mix_pattern(self, k: int, sample: int = MIX_SAMPLE) -> list[bool]:
        """[k] True where the mixed list takes a buy-again item, learned once per k from the site's own file: for
        up to ``sample`` customers with two purchases or more (a seeded draw), the last purchase is held out, both
        lists are built from the rest (the model scoring the history without it), and each slot goes to the list
        whose next rank hit more often (``recmodel.buy_again.slot_pattern``)."""
        if k not in self._patterns:
            histories, rates = self._repeat_facts()
            eligible = np.flatnonzero(np.diff(histories.offsets) >= 2)
            rows = np.random.default_rng(0).permutation(eligible)[:sample]
            hits_again, hits_new = np.zeros(k), np.zeros(k)
            for row in rows:
                past = histories.of(row)
                target, before = past[-1], past[:-1]
                logits = self._scores(self._without_last(row, before), 0)
                items, scores = repeat_scores(before, logits, rates)
                again = items[np.argsort(-scores, kind="stable")][:k]
                logits[np.unique(before)] = -np.inf
                new = np.argsort(-logits, kind="stable")[:k]
                for hits, ranked in ((hits_again, again), (hits_new, new)):
                    found = np.flatnonzero(ranked == target)
                    hits[found] += 1
            self._patterns[k] = slot_pattern(hits_again, hits_new, k)
        return self._patterns[k]

    # ----- audiences ------------------------------------------------------------------------------------------
    def audience(self, *, item_id: str | None = None, category: str | None = None, size: int = 100,
                 include_past: bool = False) -> dict:
        """The ``size`` customers most likely to act on ``item_id`` or on any item of ``category``
        (``recmodel.audiences``), best first, with their score and segment (when the run has a profile model);
        customers who already interacted with every target item are left out unless ``include_past``."""
        if (item_id is None) == (category is None):
            raise DataError("an audience needs exactly one of an item id or a category")
        if item_id is not None:
            targets = np.array([self._item_position(item_id)])
        else:
            targets = np.flatnonzero(items_in_categories(self.catalogue.category_lists, [category]))
            targets = targets[self.serving.known_items[targets]]
            if not len(targets):
                raise UnknownId(f"no trained item in category {category!r}")
        scores = audience_scores(self.model.dlrm, self.catalogue, self.users, self.config.history_length, targets,
                                 self.serving.profiles)
        rows = top_audience(scores, size, None if include_past else already_acted(self.users, targets))
        segments = self.segments()
        return {"item_id": item_id, "category": category, **self._round(),
                "path": "log-probability of the target among the catalogue",
                "customers": [{"user_id": str(self.users.user_ids[r]), "rank": rank,
                               "score": round(float(scores[r]), 6),
                               **({"segment": int(segments[r])} if segments is not None else {})}
                              for rank, r in enumerate(rows, start=1)]}

    def segments(self, count: int = 6, seed: int = 0) -> np.ndarray | None:
        """[U] k-means segment of every customer on the profile embeddings, as ``fedrec profile`` computes them
        (None without a profile model)."""
        if self.serving.profiles is None:
            return None
        key = (count, seed)
        if key not in self._segments:
            self._segments[key] = kmeans(self.serving.profiles, min(count, len(self.users)), seed=seed)
        return self._segments[key]

    # ----- profiles -------------------------------------------------------------------------------------------
    def profile(self, user_id: str, top_categories: int = 3) -> dict:
        """A customer's top interest categories (the profile model's prediction), distinctive categories (those the
        customer's own events at the site over-represent against all customers', ``distinctive_categories``),
        profile embedding and recency/frequency/spend."""
        row = self._customer(user_id)
        if self.model.profile is None:
            raise DataError("this run trained no profile model (profiles=false)")
        with torch.no_grad():
            _, logits, embedding = self.model.profile(torch.from_numpy(self.serving.summaries.features[[row]]))
            interest = torch.softmax(logits, dim=1)[0].numpy()
        names = category_row_names(self.catalogue, len(interest))
        top = np.argsort(-interest)[:top_categories]
        value = customer_value(self.serving.events, np.array([str(user_id)])).iloc[0]
        if top_categories not in self._distinctive:  # every customer's at once: vectorised, then kept
            shares = category_shares(self.serving.events, self.users.user_ids)
            self._distinctive[top_categories] = distinctive_categories(shares, top_categories)
        return {"user_id": str(user_id), **self._round(),
                "top_categories": [{"category": names[j], "share": round(float(interest[j]), 4)} for j in top],
                "distinctive_categories": [{"category": name, "share": round(own, 4),
                                            "all_users_share": round(everyone, 4)}
                                           for name, own, everyone in self._distinctive[top_categories][row]],
                "profile": [round(float(x), 5) for x in embedding[0]],
                "value": {key: (float(v) if np.isfinite(v) else None) for key, v in value.items()}}

    # ----- internals ------------------------------------------------------------------------------------------
    def _without_last(self, row: int, before: np.ndarray) -> Users:
        """Customer ``row`` as a one-user block whose history is the distinct items of ``before`` (oldest first)."""
        distinct = before[np.sort(np.unique(before, return_index=True)[1])]
        one = self.users.subset(np.array([row]))
        time_of = dict(zip(one.train_items.tolist(), one.train_times.tolist()))
        levels = np.full(len(distinct), EVENT_LEVEL["purchase"], dtype=np.int64)
        offsets = np.array([0, len(distinct)], dtype=np.int64)
        return replace(one, train_offsets=offsets, train_items=distinct, train_levels=levels,
                       train_times=np.array([time_of.get(int(i), 0.0) for i in distinct]),
                       dense=user_dense_features(distinct, levels, offsets, self.catalogue))

    def _customer(self, user_id) -> int:
        row = self.row_of_user.get(str(user_id))
        if row is None:
            raise UnknownId(f"unknown user id {user_id!r}")
        return row

    def _repeat_facts(self) -> tuple[PurchaseHistories, np.ndarray]:
        """(purchase histories, per-item repeat rates [N]), once, from the site's file."""
        if self._repeat is None:
            histories = purchase_histories(self.serving.events, self.users.user_ids, self.catalogue.item_ids)
            self._repeat = (histories, item_repeat_rates(histories, len(self.catalogue)))
        return self._repeat

    def _round(self) -> dict:
        return {"model_round": self.serving.served.round}

    def _item_position(self, item_id) -> int:
        position = self.position_of_item.get(str(item_id))
        if position is None:
            raise UnknownId(f"unknown item id {item_id!r}")
        return position

    def _visitors(self, histories: list[list[int]], attributes: list[dict]):
        return ad_hoc_users(self.catalogue, histories, attributes, attribute_names=self.serving.attribute_names,
                            attribute_buckets=self.config.attribute_buckets)

    @torch.no_grad()
    def _top(self, users, row: int, k: int, path: str, *, user_id, exclude, keep_seen, categories, new_items) -> dict:
        self._check_k(k)
        scores = self._scores(users, row)
        if not new_items:
            scores[~self.serving.known_items] = -np.inf
        if not keep_seen:
            scores[users.train_items_of(row)] = -np.inf
        for item in exclude or ():
            scores[self._item_position(item)] = -np.inf
        if categories:
            scores[~items_in_categories(self.catalogue.category_lists, categories)] = -np.inf
        return {"user_id": user_id, "path": path, **self._round(), "items": self._ranked(scores, k)}

    def _check_k(self, k: int) -> None:
        if not 1 <= k <= len(self.catalogue):
            raise DataError(f"k must be between 1 and the catalogue size {len(self.catalogue)} (got {k})")

    @torch.no_grad()
    def _scores(self, users, row: int) -> np.ndarray:
        """[N] float64: the model's logit of every catalogue item for user ``row`` of ``users``."""
        batch = candidates_batch(self.catalogue, users, np.array([row]), self.all_items, self.config.history_length,
                                 self._profiles(users, row))
        return score_shared_candidates(self.model.dlrm, batch)[0].double().numpy()

    def _profiles(self, users, row: int) -> np.ndarray | None:
        if self.model.profile is None:
            return None
        if users is self.users:
            return self.serving.profiles
        inputs = summarise(self.catalogue, users, category_buckets=self.config.category_buckets,
                           attribute_buckets=self.config.attribute_buckets,
                           reference_time=serving_reference_time(self.config, self.users.train_times))
        return self.model.user_profiles(inputs.features)

    def _ranked(self, scores: np.ndarray, k: int) -> list[dict]:
        finite = np.flatnonzero(np.isfinite(scores))
        order = finite[np.argsort(-scores[finite], kind="stable")[:k]]
        return [{"item_id": str(self.catalogue.item_ids[p]), "rank": rank, "score": round(float(scores[p]), 6),
                 **{column: values[p] for column, values in self.item_names.items()},
                 "new_item": bool(not self.serving.known_items[p])}
                for rank, p in enumerate(order, start=1)]


def _cold_start(attributes: dict | None) -> str:
    """The path a visitor without history is answered by."""
    return "cold start: " + ("attributes and " if attributes else "") + "the DP item prior"
