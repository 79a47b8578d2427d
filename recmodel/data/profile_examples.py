"""Training examples and held-out users for the profile model.

One example is one user: input = summary of their train interactions except
the last, targets = that summary's behaviour part (reconstruction) and the
category of the last train interaction (next category). A deterministic 10%
of users (by a stable hash of the user id) is held out of profile training
and used to evaluate it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from recmodel.data.hashing import hash_to_buckets
from recmodel.data.interactions import Catalogue, Users
from recmodel.data.profile_features import next_category_targets, summarise

HOLDOUT_BUCKETS = 10  # 1 in 10 users held out


def held_out_users(users: Users) -> np.ndarray:
    """[U] bool, True for users kept out of profile training (stable across runs and sites)."""
    return hash_to_buckets(users.user_ids, HOLDOUT_BUCKETS + 1) == 1


def profile_example_count(users: Users) -> int:
    """How many examples ``profile_training_examples`` holds: the users not held out."""
    return int((~held_out_users(users)).sum())


def profile_training_examples(catalogue: Catalogue, users: Users, *, category_buckets: int,
                              attribute_buckets: int, reference_time: float) -> TensorDataset:
    """(features [n, F], behaviour [n, F_b], next category [n] rows or [n, C] shares) for non-held-out users
    (``next_category_targets``)."""
    train = ~held_out_users(users)
    inputs = summarise(catalogue, users, category_buckets=category_buckets, attribute_buckets=attribute_buckets,
                       reference_time=reference_time, drop_last=True)
    targets = next_category_targets(catalogue, users, target="last_train", category_buckets=category_buckets)
    features = inputs.features[train]
    return TensorDataset(torch.from_numpy(features), torch.from_numpy(features[:, : inputs.behaviour_dim].copy()),
                         torch.from_numpy(targets[train]))


def profile_loss(model, criterion, tensors):
    """Profile examples -> per-user loss (a DP loss under Opacus)."""
    features, behaviour, next_category = tensors
    reconstruction, logits, _ = model(features)
    return criterion(reconstruction, logits, behaviour, next_category)
