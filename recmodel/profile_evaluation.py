"""Evaluate the profile model on held-out users against trivial baselines.

Held-out users (see ``profile_examples.held_out_users``) are never trained on.
Input: the summary of all their train interactions; targets: its behaviour
part (reconstruction) and the category of their test interaction (next
category). Baselines: the mean behaviour vector of training users, and the
global category prior (the 5 most frequent categories among training users'
interactions) for everyone.
"""

from __future__ import annotations

import numpy as np
import torch

from recmodel.data.interactions import Catalogue, Users
from recmodel.data.profile_examples import held_out_users
from recmodel.data.profile_features import next_category_targets, summarise
from recmodel.model.profile import ProfileModel

TOP = 5


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
    target = next_category_targets(catalogue, users, target="test")[held]
    model.eval()
    reconstruction, logits, _ = model(torch.from_numpy(inputs.features[held]))
    predicted = torch.topk(logits, TOP, dim=1).indices.numpy()
    user_of = np.repeat(np.arange(len(users)), np.diff(users.train_offsets))
    trained_items = users.train_items[~held[user_of]]
    prior = np.argsort(-np.bincount(catalogue.category_rows[trained_items], minlength=category_buckets))[:TOP]
    mean_behaviour = behaviour[~held].mean(axis=0) if (~held).any() else behaviour.mean(axis=0)
    return {
        "next-category-top5": float((predicted == target[:, None]).any(axis=1).mean()),
        "prior-top5": float(np.isin(target, prior).mean()),
        "reconstruction-mse": float(((reconstruction.numpy() - behaviour[held]) ** 2).mean()),
        "mean-baseline-mse": float(((mean_behaviour - behaviour[held]) ** 2).mean()),
        "profile-users": int(held.sum()),
    }
