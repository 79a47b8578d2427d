"""Load a run's data once per process: split, partitioned into sites.

Every simulated partner and the server call ``load_federated_data`` with the
same arguments and get the same catalogue, users and partitions (the cache is
keyed on the arguments and the file's modification time).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recmodel.config import RunConfig
from recmodel.data.declared_catalogue import events_in_catalogue, load_declared_catalogue
from recmodel.data.interactions import USER_DENSE_FEATURES, Catalogue, Users, split_leave_last_out
from recmodel.data.partition import partition_users
from recmodel.data.schema import DataError, load_events
from recmodel.data.synthetic import SyntheticSpec, generate_events
from recmodel.data.profile_features import profile_feature_dim
from recmodel.model.bundle import BundleSpec
from recmodel.model.dlrm import ModelSpec
from recmodel.model.profile import ProfileSpec


@dataclass(frozen=True)
class FederatedData:
    """All users of a run's data set and which rows each site holds."""

    source: str
    catalogue: Catalogue
    users: Users
    attribute_names: tuple[str, ...]
    partitions: tuple[np.ndarray, ...]
    dropped_users: int

    def site_users(self, partition_id: int) -> Users:
        if not 0 <= partition_id < len(self.partitions):
            raise DataError(f"partition-id {partition_id} is outside 0..{len(self.partitions) - 1}")
        return self.users.subset(self.partitions[partition_id])

    def site_name(self, partition_id: int) -> str:
        """The partner_id held by the site (joined with '+' if several), else ``site-<id>``."""
        names = np.unique(self.users.partner_ids[self.partitions[partition_id]])
        names = [n for n in names if n]
        return "+".join(names) if names else f"site-{partition_id}"


def load_federated_data(config: RunConfig, num_partitions: int, *, catalogue_path: str = "") -> FederatedData:
    """Load (or generate), split and partition the configured data set.

    ``catalogue_path`` (a deployed site's declared catalogue; default: the run config's ``catalogue``, which
    declares one in simulation): the item space is that file's items, not the items of the events
    (``recmodel.data.declared_catalogue``).
    """
    at_deployed_site = bool(catalogue_path)  # category names stay hashed: the coordinator's model file cannot
    # record the names a deployed site's catalogue holds, and serving must map them to the same rows
    catalogue_path = str(Path(catalogue_path or config.catalogue).expanduser().resolve()) \
        if (catalogue_path or config.catalogue) else ""
    source = config.dataset
    stamp = 0.0
    if source != "synthetic":
        path = Path(source).expanduser().resolve()
        if not path.is_file():
            raise DataError(f"dataset: file '{path}' does not exist")
        source, stamp = str(path), path.stat().st_mtime
    return _load_cached(
        source,
        stamp,
        num_partitions,
        config.synthetic_users,
        config.synthetic_items,
        config.synthetic_categories,
        config.item_buckets,
        config.category_buckets,
        config.attribute_buckets,
        config.min_interactions,
        config.seed,
        catalogue_path,
        Path(catalogue_path).stat().st_mtime if catalogue_path else 0.0,
        not at_deployed_site,
    )


@functools.lru_cache(maxsize=4)
def _load_cached(source, _stamp, num_partitions, users, items, categories, item_buckets,
                 category_buckets, attribute_buckets, min_interactions, seed, catalogue_path="",
                 _catalogue_stamp=0.0, distinct_categories=False) -> FederatedData:
    if source == "synthetic":
        if users < num_partitions:
            raise DataError(
                f"more partners ({num_partitions}) than users ({users}): "
                "lower num-supernodes or raise synthetic-users"
            )
        spec = SyntheticSpec(users=users, items=items, categories=categories, partners=num_partitions, seed=seed)
        events = generate_events(spec)
    else:
        events = load_events(source)
    declared = None
    if catalogue_path:
        declared = load_declared_catalogue(catalogue_path)
        events, _ = events_in_catalogue(events, declared)
    split = split_leave_last_out(
        events,
        item_buckets=item_buckets,
        category_buckets=category_buckets,
        attribute_buckets=attribute_buckets,
        min_interactions=min_interactions,
        source=source,
        items=declared,
        distinct_categories=distinct_categories,
    )
    partitions = partition_users(split.users, num_partitions, seed=seed)
    for site, rows in enumerate(partitions):
        if len(rows) == 0:
            raise DataError(f"{source}: site {site} of {num_partitions} receives no user")
    return FederatedData(source, split.catalogue, split.users, split.attribute_names, tuple(partitions), split.dropped_users)


def model_spec_for(config: RunConfig, data: FederatedData) -> BundleSpec:
    """The models' architecture implied by the config and the data's columns (simulation: the server has the data)."""
    return _bundle_spec(config, item_buckets=data.catalogue.item_buckets, catalogue_rows=data.catalogue.catalogue_rows,
                        num_attributes=len(data.attribute_names), user_dense_dim=int(data.users.dense.shape[1]))


def declared_model_spec(config: RunConfig) -> BundleSpec:
    """The architecture from the declared schema alone (deployment: the coordinator has no partner data).

    Item ids are hashed into ``item-buckets`` rows (sites share no catalogue), the user attribute columns are
    ``user-attributes``, the dense user features are ``USER_DENSE_FEATURES``. Each site checks its file against
    the same declaration (``client.site_check``).
    """
    if config.item_buckets == 0:
        raise DataError("a deployment needs item-buckets > 0: sites share no catalogue, so item ids are hashed "
                        "into item-buckets rows; run with --run-config \"item-buckets=4096\" (or another row count)")
    return _bundle_spec(config, item_buckets=config.item_buckets, catalogue_rows=False,
                        num_attributes=len(config.declared_attributes()), user_dense_dim=len(USER_DENSE_FEATURES))


def _bundle_spec(config: RunConfig, *, item_buckets: int, catalogue_rows: bool, num_attributes: int,
                 user_dense_dim: int) -> BundleSpec:
    profile = None
    if config.profiles:
        input_dim, behaviour_dim = profile_feature_dim(config.category_buckets, num_attributes,
                                                       config.attribute_buckets)
        profile = ProfileSpec(input_dim=input_dim, behaviour_dim=behaviour_dim,
                              num_categories=config.category_buckets, profile_dim=config.profile_dim)
    dlrm = ModelSpec(
        item_buckets=item_buckets,
        catalogue_rows=catalogue_rows,
        category_buckets=config.category_buckets,
        attribute_buckets=config.attribute_buckets,
        num_user_attributes=num_attributes,
        user_dense_dim=user_dense_dim,
        embedding_dim=config.embedding_dim,
        profile_dim=config.profile_dim if config.profiles else 0,
        history_match=True,
    )
    return BundleSpec(dlrm, profile)


def check_sites_can_train(config: RunConfig, data: FederatedData) -> None:
    """Before any training: every site needs users, a DP sample rate below 1, and delta < 1/users.

    Raises ``DataError`` naming every site that fails and what to change.
    """
    problems = []
    for site in range(len(data.partitions)):
        name, users = data.site_name(site), len(data.partitions[site])
        if users == 0:
            problems.append(f"partner '{name}' has no usable user (users with fewer than "
                            f"{config.min_interactions} distinct items are dropped): give it data or lower min-interactions")
            continue
        if config.dp and config.target_delta >= 1.0 / users:
            problems.append(f"partner '{name}' has {users} users: target-delta={config.target_delta:g} is not below "
                            f"1/users={1.0 / users:.2g}; lower target-delta")
    if problems:
        raise DataError(f"{data.source}: cannot start the federation:\n  - " + "\n  - ".join(problems))
