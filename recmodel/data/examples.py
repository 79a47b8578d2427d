"""Turn a site's users into model inputs (``RecBatch``).

Training mirrors the leave-last-out test (the last H items predict the next
one): one example per user (privacy unit ``user``) cuts the user's train
sequence at a random point t; the history is the H items before t and the
positives are the next P items (t .. t+P-1, fewer when the sequence ends
sooner: the missing slots are masked out), plus ``negatives`` catalogue
items per positive slot drawn by the example's ``NegativeSampler``
(``recmodel.data.negative_sampling``). With privacy unit ``event`` one
example is one train interaction (P = 1) with the items before it as history.
An example is the ``RecBatch`` fields followed by the candidates' sampled-softmax
logit offsets [L] (0 for positives; ``training_batch`` splits them off).

Randomness: each example's cut and negatives come from a generator keyed by (``seed``, the user's id, how
many times this user's example has been drawn), never from one stream shared by all users: with a shared
stream, one user's cut and negatives would depend on which other users exist and were fetched before, and
the per-user sensitivity that DP-SGD's accounting assumes would be false. At a site ``seed`` holds the
site's secret and the round (``recmodel.privacy.site_secrets``).

Evaluation: ``user_side``/``candidates_batch`` build [B, L] batches where the
history is the user's last H train items.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from recmodel.data.interactions import Catalogue, Users
from recmodel.data.negative_sampling import NegativeSampler
from recmodel.model.batch import RecBatch


def padded_history(catalogue: Catalogue, items: np.ndarray, length: int):
    """Last ``length`` items -> (item rows [H], category rows [H], mask [H])."""
    items = items[-length:]
    item_rows = np.zeros(length, dtype=np.int64)
    category_rows = np.zeros(length, dtype=np.int64)
    mask = np.zeros(length, dtype=np.float32)
    n = len(items)
    if n:
        item_rows[:n] = catalogue.item_rows[items]
        category_rows[:n] = catalogue.category_rows[items]
        mask[:n] = 1.0
    return item_rows, category_rows, mask


class TrainingExamples(Dataset):
    """Map-style dataset; item i is a tuple of tensors in ``RecBatch`` field order, then the logit offsets [L].

    ``sampler``: how negatives are drawn (None: uniformly over the catalogue). ``seed``: an int or a sequence
    of ints (e.g. [site secret, round]) keying every user's own generator (see the module docstring).
    """

    def __init__(
        self,
        catalogue: Catalogue,
        users: Users,
        *,
        history_length: int,
        positives_per_user: int,
        negatives_per_positive: int,
        privacy_unit: str = "user",
        seed: int | Sequence[int] = 0,
        profiles: np.ndarray | None = None,
        sampler: NegativeSampler | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.sampler = sampler if sampler is not None else NegativeSampler.uniform(len(catalogue))
        self.users = users
        self.attach_profiles(profiles)
        self.history_length = history_length
        self.negatives = negatives_per_positive
        self.seed = [int(seed)] if np.ndim(seed) == 0 else [int(s) for s in seed]
        self.user_keys = user_keys(users.user_ids)
        self.draws = np.zeros(len(users), dtype=np.int64)  # examples drawn per user so far
        counts = np.diff(users.train_offsets)
        if privacy_unit == "user":
            self.positives = positives_per_user
            self.example_user = np.flatnonzero(counts > 0)
            self.example_position = np.full(len(self.example_user), -1)
        else:
            self.positives = 1
            self.example_user = np.repeat(np.arange(len(users)), counts)
            self.example_position = np.concatenate([np.arange(c) for c in counts]) if len(counts) else np.zeros(0, np.int64)

    def attach_profiles(self, profiles: np.ndarray | None) -> None:
        """Set the users' profile embeddings [U, P] given to the model (None: P = 0)."""
        self.profiles = np.zeros((len(self.users), 0), np.float32) if profiles is None else profiles.astype(np.float32)

    def __len__(self) -> int:
        return len(self.example_user)

    def __getitem__(self, index: int):
        user = int(self.example_user[index])
        items = self.users.train_items_of(user)
        rng = np.random.default_rng([*self.seed, int(self.user_keys[user]), int(self.draws[user]),
                                     int(self.example_position[index]) + 1])
        self.draws[user] += 1
        cut = int(self.example_position[index])
        if cut < 0:  # user unit: a random cut that leaves at least one item before it when the user has two
            cut = int(rng.integers(1, len(items))) if len(items) > 1 else 0
        chosen = np.arange(cut, min(cut + self.positives, len(items)))
        history = padded_history(self.catalogue, items[:cut], self.history_length)
        slots = np.zeros(self.positives, dtype=np.int64)  # positive slots; the unfilled ones are masked out
        slots[:len(chosen)] = items[chosen]
        negatives = self.sampler.draw(rng, self.positives * self.negatives)
        offsets = np.concatenate([np.zeros(self.positives, np.float32), self.sampler.logit_offsets(negatives)])
        candidates = np.concatenate([slots, negatives])
        labels = np.concatenate([np.ones(len(chosen)), np.zeros(len(candidates) - len(chosen))]).astype(np.float32)
        label_mask = np.ones(len(candidates), dtype=np.float32)
        label_mask[len(chosen):self.positives] = 0.0
        return tuple(
            torch.from_numpy(np.ascontiguousarray(a))
            for a in (
                self.users.dense[user],
                self.users.attribute_rows[user],
                *history,
                self.catalogue.item_rows[candidates],
                self.catalogue.category_rows[candidates],
                self.catalogue.price_feature[candidates][:, None],
                labels,
                label_mask,
                self.profiles[user],
                offsets,
            )
        )


def user_keys(user_ids: np.ndarray) -> np.ndarray:
    """A 63-bit key [U] per raw user id (BLAKE2b of its text): the same for a user whoever else is present."""
    return np.array([int.from_bytes(hashlib.blake2b(str(u).encode("utf-8"), digest_size=8).digest(), "big") >> 1
                     for u in user_ids], dtype=np.int64)


def to_batch(tensors) -> RecBatch:
    """A collated list of tensors (DataLoader output) as a contiguous ``RecBatch``."""
    return RecBatch(*(t.contiguous() for t in tensors))


def training_batch(tensors) -> tuple[RecBatch, torch.Tensor]:
    """Collated ``TrainingExamples`` tensors -> (``RecBatch``, logit offsets [B, L])."""
    fields = len(RecBatch._fields)
    return to_batch(tensors[:fields]), tensors[fields].contiguous()


def candidates_batch(catalogue: Catalogue, users: Users, rows: np.ndarray, candidates: np.ndarray, history_length: int,
                     profiles: np.ndarray | None = None) -> RecBatch:
    """Score ``candidates`` (catalogue positions, [L] shared or [B, L]) for users ``rows`` [B].

    ``profiles``: [U, P] profile embeddings of all ``users`` (None: P = 0).
    """
    rows = np.asarray(rows)
    histories = [padded_history(catalogue, users.train_items_of(u), history_length) for u in rows]
    candidates = np.broadcast_to(candidates, (len(rows), np.shape(candidates)[-1]))
    size = candidates.shape
    return RecBatch(
        user_dense=torch.from_numpy(users.dense[rows]),
        user_attributes=torch.from_numpy(users.attribute_rows[rows]),
        history_items=torch.from_numpy(np.stack([h[0] for h in histories])),
        history_categories=torch.from_numpy(np.stack([h[1] for h in histories])),
        history_mask=torch.from_numpy(np.stack([h[2] for h in histories])),
        candidate_items=torch.from_numpy(np.ascontiguousarray(catalogue.item_rows[candidates])),
        candidate_categories=torch.from_numpy(np.ascontiguousarray(catalogue.category_rows[candidates])),
        candidate_dense=torch.from_numpy(np.ascontiguousarray(catalogue.price_feature[candidates][..., None])),
        labels=torch.zeros(size),
        label_mask=torch.ones(size),
        user_profile=torch.from_numpy(np.zeros((len(rows), 0), np.float32) if profiles is None
                                      else np.ascontiguousarray(profiles[rows], dtype=np.float32)),
    )
