"""What a ClientApp knows about its partner site, from the Flower Context.

Simulation: ``node_config`` holds ``partition-id`` and ``num-partitions``; the
site's users are that partition of the run's data set, and its state (ledger,
calibration) lives under ``<run-dir>/partners/<partner>/``.
Deployment: ``--node-config "data-path='events.parquet' state-dir='/var/fedrec'"``;
the site holds every user of its own file and its state persists across runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flwr.app import Context

from recmodel.config import RunConfig
from recmodel.data.federated import FederatedData, load_federated_data
from recmodel.data.interactions import Catalogue, Users


@dataclass(frozen=True)
class Site:
    partner: str
    catalogue: Catalogue
    users: Users
    state_dir: Path


def resolve_site(context: Context, config: RunConfig, run_dir: str) -> Site:
    """Load this node's users and decide where its privacy state lives."""
    node = context.node_config
    if "data-path" in node:
        site_config = config.replace(dataset=str(node["data-path"]))
        data = load_federated_data(site_config, num_partitions=1)
        partner = str(node.get("partner-name", data.site_name(0)))
        state_dir = Path(str(node.get("state-dir", Path.home() / ".fedrec" / partner))).expanduser()
        return Site(partner, data.catalogue, data.site_users(0), state_dir)
    partition_id = int(node["partition-id"])
    data: FederatedData = load_federated_data(config, num_partitions=int(node["num-partitions"]))
    partner = data.site_name(partition_id)
    return Site(partner, data.catalogue, data.site_users(partition_id), Path(run_dir) / "partners" / partner)
