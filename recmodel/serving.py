"""Load a finished run's models and a partner's own events for serving.

Used at a partner site by ``fedrec recommend`` and ``fedrec profile``: every
interaction of every user counts (history and "already seen"); ids stay the
raw ids of the source file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recmodel.config import RunConfig
from recmodel.data.interactions import Catalogue, Users, split_leave_last_out
from recmodel.data.profile_features import ProfileInputs, summarise
from recmodel.data.schema import DataError, load_events
from recmodel.model.bundle import Recommender
from recmodel.model.model_file import load_model


@dataclass(frozen=True)
class ServingData:
    config: RunConfig
    model: Recommender
    catalogue: Catalogue
    users: Users
    summaries: ProfileInputs
    profiles: np.ndarray | None  # [U, P]


def load_for_serving(run_dir: str | Path, data_file: str | Path, *, users: list[str] | None = None) -> ServingData:
    model, run_config = load_model(run_dir)
    config = RunConfig.from_mapping({**run_config, "dataset": "synthetic", "site-policy": ""})
    events = load_events(data_file)
    if users:
        unknown = sorted(set(users) - set(events["user_id"].astype(str)))
        if unknown:
            raise DataError(f"{data_file}: unknown user id(s) {unknown[:10]}{' ...' if len(unknown) > 10 else ''}")
        events = events[events["user_id"].astype(str).isin(users)]
    split = split_leave_last_out(events, item_buckets=config.item_buckets, category_buckets=config.category_buckets,
                                 attribute_buckets=config.attribute_buckets, min_interactions=1,
                                 source=str(data_file), holdout=False)
    if len(split.attribute_names) != model.spec.dlrm.num_user_attributes:
        raise DataError(f"{data_file}: has user attributes {list(split.attribute_names)} but the model was trained "
                        f"with {model.spec.dlrm.num_user_attributes}; use data in the training run's schema")
    summaries = summarise(split.catalogue, split.users, category_buckets=config.category_buckets,
                          attribute_buckets=config.attribute_buckets)
    return ServingData(config, model, split.catalogue, split.users, summaries,
                       model.user_profiles(summaries.features))
