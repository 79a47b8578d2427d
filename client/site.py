"""What a ClientApp knows about its partner site, from the Flower Context.

Simulation: ``node_config`` holds ``partition-id`` and ``num-partitions``; the
site's users are that partition of the run's data set, its state (ledger,
calibration) lives under ``<run-dir>/partners/<partner>/`` and its cap is the
run config's ``max-epsilon`` (or its entry in ``max-epsilon-overrides``).

Deployment: the SuperNode is started with
``--node-config "data-path='events.parquet' state-dir='/var/lib/fedrec' max-epsilon=8.0"``.
The site holds every user of its own file, its ledger persists in
``state-dir`` across runs, and its cap is the node's ``max-epsilon``: the run
config can only lower it, never raise it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flwr.app import Context

from recmodel.config import ConfigError, RunConfig
from recmodel.data.federated import check_sites_can_train, load_federated_data
from recmodel.data.interactions import Catalogue, Users


@dataclass(frozen=True)
class Site:
    partner: str
    catalogue: Catalogue
    users: Users
    state_dir: Path
    max_epsilon: float


def resolve_site(context: Context, config: RunConfig, run_dir: str) -> Site:
    """Load this node's users; decide where its privacy state lives and its cap."""
    node = context.node_config
    if "data-path" in node:
        return _deployed_site(node, config)
    partition_id = int(node["partition-id"])
    data = load_federated_data(config, num_partitions=int(node["num-partitions"]))
    partner = data.site_name(partition_id)
    cap = config.epsilon_caps().get(partner, config.max_epsilon)
    return Site(partner, data.catalogue, data.site_users(partition_id), Path(run_dir) / "partners" / partner, cap)


def _deployed_site(node: dict, config: RunConfig) -> Site:
    site_config = config.replace(dataset=str(node["data-path"]))
    data = load_federated_data(site_config, num_partitions=1)
    check_sites_can_train(site_config, data)
    partner = str(node.get("partner-name", data.site_name(0)))
    state_dir = Path(str(node.get("state-dir", Path.home() / ".fedrec" / partner))).expanduser()
    if "max-epsilon" not in node:
        raise ConfigError(
            f"node config of partner '{partner}' has no max-epsilon: a site sets its own cap, "
            "e.g. --node-config \"max-epsilon=8.0 data-path='...' state-dir='...'\""
        )
    node_cap = float(node["max-epsilon"])
    return Site(partner, data.catalogue, data.site_users(0), state_dir, min(node_cap, config.max_epsilon))
