"""What a ClientApp knows about its partner site, from the Flower Context.

Simulation: ``node_config`` holds ``partition-id`` and ``num-partitions``; the
site's users are that partition of the run's data set, its state (ledger,
signing key, calibration) lives under ``<run-dir>/partners/<partner>/``, and
its privacy policy comes from the run config's ``site-policy`` file, or
mirrors the run config when there is none (the simulation plays every site).

Deployment: the SuperNode is started with ``--node-config "data-path='events.parquet'
catalogue-path='catalogue.parquet' state-dir='/var/lib/fedrec' max-epsilon=8.0 expected-users=50000"``
(``catalogue-path``: the federation's declared item space, ``recmodel.data.declared_catalogue``)
plus, optionally, the other policy keys of ``recmodel.privacy.policy``
(``dp``, ``privacy-unit``, ``delta``, ``accountant``, ``metrics``, ``max-received-weight``), ``partner-name``,
``device`` and ``signing-key-dir`` (the signing key apart from the ledger, ``recmodel.privacy.site_key``).
The site holds every user of its own file, its ledger and key persist in ``state-dir`` across runs, and the
run config can make its
policy stricter, never weaker.

``population``: the number of users the site's DP plan assumes (Poisson sample rate, steps, expected batch),
and the only user count it ever sends. A deployed site declares it (``expected-users``, a public figure such as
a rounded customer count), so its exact count, and any count under a filter the coordinator chose, never
leaves; the accounting (add or remove one user, at the planned rate) holds whatever the true count. A simulated
site uses its partition's size, which the simulation's server reads anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flwr.app import Context

from recmodel.config import ConfigError, RunConfig
from recmodel.data.federated import check_sites_can_train, declared_model_spec, load_federated_data, model_spec_for
from recmodel.data.interactions import Catalogue, Users
from recmodel.model.bundle import BundleSpec
from recmodel.privacy.policy import SitePolicy
from recmodel.privacy.site_key import use_key_dir

SITE_KEYS = ("data-path", "catalogue-path", "state-dir", "partner-name", "device", "expected-users",
             "signing-key-dir")  # site facts;
# the rest is its privacy policy (recmodel.privacy.policy)
MAX_EXPECTED_USERS = 10**10


@dataclass(frozen=True)
class Site:
    partner: str
    catalogue: Catalogue
    users: Users
    state_dir: Path
    policy: SitePolicy
    simulated: bool
    model_spec: BundleSpec  # the architecture this site accepts (recmodel.privacy.received_message)
    population: int  # users the DP plan assumes: declared (deployment) or the partition's size (simulation)
    attribute_names: tuple[str, ...] = ()


def on_site_hardware(config: RunConfig, node: dict) -> RunConfig:
    """The admitted config, with the SuperNode's own ``device`` (``--node-config "device='cpu'"``) if it sets one."""
    if "device" not in node:
        return config
    return config.replace(device=str(node["device"]))


def resolve_site(context: Context, config: RunConfig, run_dir: str) -> Site:
    """Load this node's users; decide where its privacy state lives and which policy it enforces."""
    node = context.node_config
    if "data-path" in node:
        return _deployed_site(node, config)
    partition_id = int(node["partition-id"])
    data = load_federated_data(config, num_partitions=int(node["num-partitions"]))
    partner = data.site_name(partition_id)
    policy = (SitePolicy.from_file(config.site_policy, partner=partner) if config.site_policy
              else SitePolicy.mirroring(config, partner=partner))
    return Site(partner, data.catalogue, data.site_users(partition_id), Path(run_dir) / "partners" / partner,
                policy, simulated=True, model_spec=model_spec_for(config, data),
                population=len(data.partitions[partition_id]), attribute_names=data.attribute_names)


def _deployed_site(node: dict, config: RunConfig) -> Site:
    site_config = config.replace(dataset=str(node["data-path"]))
    if not str(node.get("catalogue-path", "")):
        raise ConfigError(f"partner '{node.get('partner-name', 'this site')}': --node-config needs catalogue-path, "
                          "the federation's declared item catalogue (item_id, optional category and price; the same "
                          "file at every site): a site whose item space were its own users' items would let one "
                          "user's items change every other user's negatives and ranking candidates")
    data = load_federated_data(site_config, num_partitions=1, catalogue_path=str(node["catalogue-path"]))
    check_sites_can_train(site_config, data)
    partner = str(node.get("partner-name", data.site_name(0)))
    state_dir = Path(str(node.get("state-dir", Path.home() / ".fedrec" / partner))).expanduser()
    if "signing-key-dir" in node:  # the key apart from the ledger (recmodel.privacy.site_key)
        try:
            use_key_dir(state_dir, str(node["signing-key-dir"]))
        except ValueError as error:
            raise ConfigError(f"partner '{partner}': signing-key-dir: {error}") from None
    policy_values = {key: value for key, value in node.items() if key not in SITE_KEYS}
    policy = SitePolicy.from_mapping(policy_values, partner=partner, source="the SuperNode's --node-config",
                                     other_keys=tuple(SITE_KEYS))
    return Site(partner, data.catalogue, data.site_users(0), state_dir, policy, simulated=False,
                model_spec=declared_model_spec(config), population=_expected_users(node, partner),
                attribute_names=data.attribute_names)


def _expected_users(node: dict, partner: str) -> int:
    """The deployed site's declared ``expected-users`` (a ``ConfigError`` naming the key when absent or bad)."""
    value = node.get("expected-users")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
            or not 1 <= value <= MAX_EXPECTED_USERS:
        raise ConfigError(f"partner '{partner}': --node-config needs expected-users, a whole number of users from 1 to "
                          f"{MAX_EXPECTED_USERS:.0e} that the site declares public (e.g. its customer count rounded "
                          f"up: expected-users=50000); got {value!r}. DP-SGD's sample rate and steps follow from "
                          "it, so the exact count never leaves the site")
    return int(value)


def partner_name(context: Context) -> str:
    """The site's name before its data is read: ``partner-name`` (deployment) or the partition (simulation)."""
    node = context.node_config
    if "partner-name" in node:
        return str(node["partner-name"])
    if "partition-id" in node:
        return f"partition-{node['partition-id']}"
    return f"node-{context.node_id}"
