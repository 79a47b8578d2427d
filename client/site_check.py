"""A site's answer to the coordinator's first message: can it take part in this run, and who is it?

Before anything else the coordinator sends every node a ``query`` message with ``phase=site-check``. A
simulated site (``partition-id`` in its node config) answers with its name: the simulation's server reads the
same data and checks every partition itself. A deployed site (``data-path`` in its node config) runs the
checks a coordinator without partner data cannot: its events file loads and matches the declared schema
(``user-attributes``; hashed item ids, ``item-buckets`` > 0, since sites share no catalogue), it has users,
and ``target-delta`` is below 1/users. It answers pass, or fail with the reason; a failed site sits the run out.

What leaves the site: its name, pass/fail with the reason, whether it is simulated, and its declared population
(``client.site``: ``expected-users`` of a deployed site, the partition's size in simulation), never the exact
count of a deployed site.
"""

from __future__ import annotations

from flwr.app import ConfigRecord, Context

from client.site import partner_name, resolve_site
from recmodel.config import ConfigError, RunConfig
from recmodel.data.schema import DataError

SITE_CHECK_PHASE = "site-check"


def check_site(context: Context, request: RunConfig) -> ConfigRecord:
    """{partner, simulated, passed, reason, users} for the coordinator."""
    simulated = "data-path" not in context.node_config
    answer = {"partner": partner_name(context), "simulated": simulated, "passed": False, "reason": "", "users": 0}
    try:
        site = resolve_site(context, request, run_dir="")
        answer.update(partner=site.partner, users=site.population)  # declared, never the exact count
        if not simulated:
            _check_declared_schema(site.partner, site.attribute_names, request)
    except (DataError, ConfigError, OSError) as error:
        answer["reason"] = f"partner '{answer['partner']}': {error}"
        return ConfigRecord(answer)
    answer["passed"] = True
    return ConfigRecord(answer)


def _check_declared_schema(partner: str, attribute_names: tuple[str, ...], request: RunConfig) -> None:
    """(item-buckets > 0 is checked by ``resolve_site``, which builds the declared model spec.)"""
    declared = request.declared_attributes()
    if tuple(attribute_names) != declared:
        raise DataError(f"its events file has user attribute columns {list(attribute_names)}, but the declared "
                        f"schema (run config user-attributes) has {list(declared)}; the partners and the "
                        "coordinator must agree on user-attributes")
