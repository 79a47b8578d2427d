"""Evaluate the profile model on held-out users against trivial baselines.

Held-out users (see ``profile_examples.held_out_users``) are never trained on.
Input: the summary of all their train interactions; targets: its behaviour
part (reconstruction) and the category of their test interaction (next
category: the share of the item's categories among the top 5, 1 or 0 for an item with one category).
Baselines: the mean behaviour vector of training users, and the global
category prior (the 5 most frequent categories among training users'
interactions, an item's interaction shared among its categories) for everyone.
"""

from __future__ import annotations

import numpy as np
import torch

from recmodel.data.interactions import Catalogue, Users
from recmodel.data.profile_examples import held_out_users
from recmodel.data.item_categories import spread_over_categories
from recmodel.data.profile_features import next_category_targets, summarise
from recmodel.model.profile import ProfileModel

TOP = 5


def _as_shares(targets: np.ndarray, category_buckets: int) -> np.ndarray:
    """[U, C] float: each user's test item's categories as shares summing to 1 (``next_category_targets`` gives
    rows [U] for one category per item, shares [U, C] otherwise)."""
    if targets.ndim == 2:
        return targets
    shares = np.zeros((len(targets), category_buckets), dtype=np.float32)
    shares[np.arange(len(targets)), targets] = 1.0
    return shares


@torch.no_grad()
def evaluate_profiles(model: ProfileModel, catalogue: Catalogue, users: Users, *, category_buckets: int,
                      attribute_buckets: int, reference_time: float) -> dict:
    """{"next-category-top5", "prior-top5", "reconstruction-mse", "mean-baseline-mse", "profile-users"}."""
    held = held_out_users(users)
    if not held.any():  # same keys everywhere, so federated aggregation stays consistent
        return {"next-category-top5": 0.0, "prior-top5": 0.0, "reconstruction-mse": 0.0, "mean-baseline-mse": 0.0,
                "profile-users": 0}
    inputs = summarise(catalogue, users, category_buckets=category_buckets, attribute_buckets=attribute_buckets,
                       reference_time=reference_time)
    behaviour = inputs.features[:, : inputs.behaviour_dim]
    target = _as_shares(next_category_targets(catalogue, users, target="test", category_buckets=category_buckets),
                        category_buckets)[held]
    model.eval()
    reconstruction, logits, _ = model(torch.from_numpy(inputs.features[held]))
    predicted = torch.topk(logits, TOP, dim=1).indices.numpy()
    user_of = np.repeat(np.arange(len(users)), np.diff(users.train_offsets))
    trained_items = users.train_items[~held[user_of]]
    _, rows, weight = spread_over_categories(*catalogue.category_membership(), trained_items)
    prior = np.argsort(-np.bincount(rows, weights=weight, minlength=category_buckets), kind="stable")[:TOP]
    everyone = np.broadcast_to(prior, (len(target), TOP))
    mean_behaviour = behaviour[~held].mean(axis=0) if (~held).any() else behaviour.mean(axis=0)
    return {
        "next-category-top5": float(np.take_along_axis(target, predicted, axis=1).sum(axis=1).mean()),
        "prior-top5": float(np.take_along_axis(target, everyone, axis=1).sum(axis=1).mean()),
        "reconstruction-mse": float(((reconstruction.numpy() - behaviour[held]) ** 2).mean()),
        "mean-baseline-mse": float(((mean_behaviour - behaviour[held]) ** 2).mean()),
        "profile-users": int(held.sum()),
    }
