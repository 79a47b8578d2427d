"""Load a finished run's models and a partner's own events for serving.

Used at a partner site by ``fedrec recommend`` and ``fedrec profile``: every
interaction of every user counts (history and "already seen"); ids stay the
raw ids of the source file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recmodel.config import RunConfig
from recmodel.data.interactions import (Catalogue, Users, split_leave_last_out, with_model_categories,
                                        with_trained_rows)
from recmodel.data.profile_features import ProfileInputs, summarise
from recmodel.data.schema import DataError, load_events
from recmodel.model.bundle import Recommender
from recmodel.model.model_file import load_model
from recmodel.model.served_model import ServedModel, served_model


@dataclass(frozen=True)
class ServingData:
    served: ServedModel  # which of the run's models, and its round
    attribute_names: tuple[str, ...]  # the user attribute columns, in the model's order
    config: RunConfig
    model: Recommender
    catalogue: Catalogue  # every item of the site's file
    users: Users  # every user of the site's file
    summaries: ProfileInputs
    profiles: np.ndarray | None  # [U, P]
    selected: np.ndarray  # user rows to export [S] (all users, or the requested ones)
    known_items: np.ndarray  # [N] bool: in the run's training catalogue (all True when the run recorded none)
    events: pd.DataFrame  # the site's events file as loaded (raw ids, timestamps in seconds)

    @property
    def unknown_items(self) -> np.ndarray:
        """Raw ids of the site's items the run never trained on."""
        return self.catalogue.item_ids[~self.known_items]

    @property
    def users_without_known_items(self) -> np.ndarray:
        """Raw ids of users whose every interaction is with an unknown item."""
        return np.array([self.users.user_ids[u] for u in range(len(self.users))
                         if not self.known_items[self.users.train_items_of(u)].any()], dtype=object)


def load_for_serving(run_dir: str | Path, data_file: str | Path, *, users: list[str] | None = None,
                     which: str = "selected") -> ServingData:
    """The run's model (``recmodel.model.served_model``: the selected one unless ``which="last"``) and the site's
    data. Candidates and profiles always come from the whole file, so a user's rows are the same whether exported
    alone, with others, or in the full export."""
    served = served_model(run_dir, which)
    saved = load_model(served.folder)
    model = saved.model
    config = RunConfig.from_mapping({"reference-time": 0.0,  # model files written before the key existed
                                     **saved.run_config, "dataset": "synthetic", "site-policy": ""})
    events = load_events(data_file)
    split = split_leave_last_out(events, item_buckets=model.spec.dlrm.item_buckets, category_buckets=config.category_buckets,
                                 attribute_buckets=config.attribute_buckets, min_interactions=1,
                                 source=str(data_file), holdout=False)
    if len(split.attribute_names) != model.spec.dlrm.num_user_attributes:
        raise DataError(f"{data_file}: has user attributes {list(split.attribute_names)} but the model was trained "
                        f"with {model.spec.dlrm.num_user_attributes}; use data in the training run's schema")
    catalogue = split.catalogue
    if model.spec.dlrm.catalogue_rows:
        if saved.item_ids is None:
            raise DataError(f"{run_dir}: the model gives each training-catalogue item its own row, but its model.json "
                            "lists no catalogue_item_ids to map items to rows")
        catalogue = with_trained_rows(catalogue, saved.item_ids)
    catalogue = with_model_categories(catalogue, saved.category_names, config.category_buckets)
    summaries = summarise(catalogue, split.users, category_buckets=config.category_buckets,
                          attribute_buckets=config.attribute_buckets, reference_time=serving_reference_time(
                              config, split.users.train_times))
    selected = np.arange(len(split.users))
    if users:
        row_of = {str(u): i for i, u in enumerate(split.users.user_ids)}
        unknown = [u for u in users if u not in row_of]
        if unknown:
            raise DataError(f"{data_file}: unknown user id(s) {unknown[:10]}{' ...' if len(unknown) > 10 else ''}")
        selected = np.array([row_of[u] for u in dict.fromkeys(users)], dtype=np.int64)
    known = np.ones(len(split.catalogue), dtype=bool)
    if saved.item_ids is not None:
        known = np.isin(split.catalogue.item_ids.astype(str), np.asarray(saved.item_ids, dtype=str))
    return ServingData(served, tuple(split.attribute_names), config, model, catalogue, split.users, summaries,
                       model.user_profiles(summaries.features), selected, known, events)


def serving_reference_time(config: RunConfig, train_times: np.ndarray) -> float:
    """The run's reference time for recency features; for model files without one, the served data's latest event
    (serving stays at the site and releases nothing, so a site-wide statistic is harmless here)."""
    if config.reference_time > 0 or len(train_times) == 0:
        return config.reference_time
    return float(train_times.max())


def item_descriptions(events: pd.DataFrame, item_ids: np.ndarray) -> pd.DataFrame:
    """[N] rows of the file's ``title`` and ``category`` per catalogue item (columns absent from the file are
    left out), so a reader sees "Toy Story (1995)", not only item id 1."""
    columns = [c for c in ("title", "category") if c in events.columns]
    first = events.drop_duplicates("item_id")
    first.index = first["item_id"].astype(str)
    return pd.DataFrame({c: first[c].astype(str).reindex([str(i) for i in item_ids]).to_numpy() for c in columns})
