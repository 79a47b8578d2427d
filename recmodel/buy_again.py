"""Buy again: ranking a customer's own past items, and mixing them with new ones.

On a purchase log a large share of next purchases repeat an item the customer bought before (about 30% of
customers' last purchase on the UCI Online Retail log), which every list that skips seen items misses. At the
site, from the site's own purchase events with repeats kept (``purchase_histories``; nothing leaves):

- ``repeat_scores``: for each of a customer's past items, log(times bought + 1) + log(the item's repeat rate at
  the site, add-one smoothed: of its buyers, the share who bought it again) + the model's logit for the item
  given the customer's history, standardised over that customer's past items (so no one term's scale rules);
- ``repeat_share``: the share of the site's customers whose latest purchase repeats an earlier one;
- ``slot_pattern`` and ``mixed_list``: which slots of a k-list take buy-again items, learned at the site by
  holding out sampled customers' last purchases and counting which list's next rank hits more often
  (``recmodel.site_recommender.SiteRecommender.mixed``).

``simulations.buy_again`` measures these against the repeat-frequency baseline (times bought, most recent
first) on a real purchase log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class PurchaseHistories:
    """Every customer's purchases with repeats kept (``Users`` keeps one interaction per item): catalogue
    positions ``items`` [E] in time order, customer u's at ``items[offsets[u]:offsets[u + 1]]``."""

    offsets: np.ndarray
    items: np.ndarray

    def of(self, user: int) -> np.ndarray:
        return self.items[self.offsets[user]: self.offsets[user + 1]]


def purchase_histories(events: pd.DataFrame, user_ids: np.ndarray, item_ids: np.ndarray) -> PurchaseHistories:
    """From a loaded events file: the ``purchase`` events (every event when the file has none), per user of
    ``user_ids`` (rows) on the catalogue ``item_ids`` (positions), oldest first."""
    bought = events[events["event"] == "purchase"] if (events["event"] == "purchase").any() else events
    row = pd.Series(np.arange(len(user_ids)), index=pd.Index(np.asarray(user_ids).astype(str)))
    position = pd.Series(np.arange(len(item_ids)), index=pd.Index(np.asarray(item_ids).astype(str)))
    frame = pd.DataFrame({"row": row.reindex(bought["user_id"].astype(str)).to_numpy(),
                          "item": position.reindex(bought["item_id"].astype(str)).to_numpy(),
                          "time": bought["timestamp"].to_numpy()}).dropna()
    frame = frame.sort_values(["row", "time"], kind="stable")
    counts = np.bincount(frame["row"].to_numpy(dtype=np.int64), minlength=len(user_ids))
    return PurchaseHistories(np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
                             frame["item"].to_numpy(dtype=np.int64))


def _pair_counts(histories: PurchaseHistories, items: int) -> tuple[np.ndarray, np.ndarray]:
    """(distinct customer x item pair keys customer * items + item, how often each occurs)."""
    user_of = np.repeat(np.arange(len(histories.offsets) - 1, dtype=np.int64), np.diff(histories.offsets))
    return np.unique(user_of * items + histories.items, return_counts=True)


def item_repeat_rates(histories: PurchaseHistories, items: int) -> np.ndarray:
    """[items] float: per catalogue item, (buyers who bought it more than once + 1) / (buyers + 2)."""
    pairs, counts = _pair_counts(histories, items)
    item = pairs % items
    return (np.bincount(item[counts > 1], minlength=items) + 1.0) / (np.bincount(item, minlength=items) + 2.0)


def repeat_share(histories: PurchaseHistories, items: int) -> float:
    """Share of customers with at least two purchases whose latest one repeats an earlier item of theirs."""
    pairs, counts = _pair_counts(histories, items)
    eligible = np.flatnonzero(np.diff(histories.offsets) >= 2)
    if not len(eligible):
        return 0.0
    last = histories.items[histories.offsets[eligible + 1] - 1]
    found = counts[np.searchsorted(pairs, eligible * items + last)]
    return float((found > 1).mean())


def repeat_scores(history: np.ndarray, logits: np.ndarray, repeat_rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct past items [P], their scores [P]) for a customer's ``history`` (catalogue positions, oldest
    first); ``logits`` [N]: the model's scores of every catalogue item for this customer."""
    items, counts = np.unique(history, return_counts=True)
    model = logits[items]
    spread = model.std()
    standardised = (model - model.mean()) / spread if spread > 0 else np.zeros_like(model)
    return items, np.log(counts + 1.0) + np.log(repeat_rates[items]) + standardised


def frequency_order(history: np.ndarray) -> np.ndarray:
    """The repeat-frequency baseline: distinct past items by times bought, ties by the latest purchase first."""
    items, counts = np.unique(history, return_counts=True)
    last = np.array([np.flatnonzero(history == item).max() for item in items])
    return items[np.lexsort((-last, -counts))]


def slot_pattern(hits_again: np.ndarray, hits_new: np.ndarray, k: int) -> list[bool]:
    """Which of ``k`` slots take the next buy-again item (True) rather than the next new one: greedily, the list
    whose next rank held out purchases hit more often (``hits_*`` [k]: hits at each rank, from the site's own
    customers); ties go to new items."""
    pattern, a, b = [], 0, 0
    for _ in range(k):
        take_again = hits_again[a] > hits_new[b] if a < k and b < k else a < k
        pattern.append(bool(take_again))
        a, b = (a + 1, b) if take_again else (a, b + 1)
    return pattern


def mixed_list(again: list, new: list, pattern: list[bool]) -> list:
    """One item per slot of ``pattern`` (True: the next buy-again item, False: the next new one), never one
    already taken; when the list a slot asks for has run out, the other fills it."""
    sources, next_of, picked = {True: list(again), False: list(new)}, {True: 0, False: 0}, []
    for take_again in pattern:
        for source in (take_again, not take_again):
            items = sources[source]
            while next_of[source] < len(items) and items[next_of[source]] in picked:
                next_of[source] += 1
            if next_of[source] < len(items):
                picked.append(items[next_of[source]])
                next_of[source] += 1
                break
    return picked
