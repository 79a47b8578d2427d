"""A site's own privacy policy, and the check that keeps the run config from weakening it.

The coordinator sends the run config; the site decides. A site's policy fixes:

- ``dp``: whether its releases are DP at all (default ``true``),
- ``privacy-unit``: ``user`` (default) or ``event``,
- ``delta``: the delta at which its cumulative epsilon is always computed,
- ``accountant``: ``prv`` (default) or ``rdp``,
- ``max-epsilon``: its lifetime cap (required at a real site),
- ``metrics``: what may leave besides the DP model update: ``noised``
  (Gaussian-noised evaluation sums, accounted in the ledger; default) or ``none``,
- ``max-received-weight``: the largest weight magnitude it accepts from the
  coordinator (``recmodel.privacy.received_message``; default 1e4),
- ``dp-engine``: what computes its DP-SGD releases: ``embedding-aware``
  (default; the project's own, ``recmodel.training.embedding_aware_dp_sgd``,
  with Opacus's sampler and accountant) or ``opacus`` (Opacus's own
  ``PrivacyEngine``, for a site that trusts only a widely reviewed library).
  The ledger records the engine of every release.

A key the site does not know is an error naming it (a misspelt ``max-epsilom``
must not leave the site without the cap its operator meant to set).

Sources: a real site's ``--node-config`` (same keys), or in simulation a TOML
file named by the run config's ``site-policy`` (a ``[default]`` table and one
table per partner, same keys). A simulation without that file plays every site
itself, so its simulated sites accept what the run config asks (``mirroring``)
and their caps come from ``max-epsilon`` / ``max-epsilon-overrides``; the run
report says so.

``SitePolicy.admit(request)`` returns the configuration the site trains under,
or raises ``PolicyRefusal`` before any training when the request is weaker
than the policy (DP off, event-level where the site says user, a larger delta,
a less conservative accountant, a larger cap). Stricter requests are honoured.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from recmodel.config import ACCOUNTANTS, PRIVACY_UNITS, ConfigError, RunConfig
from recmodel.privacy.received_message import DEFAULT_MAX_RECEIVED_WEIGHT

METRIC_RELEASES = ("noised", "none")
POLICY_KEYS = ("dp", "privacy-unit", "delta", "accountant", "max-epsilon", "metrics", "max-received-weight",
               "dp-engine")
DP_ENGINES = ("embedding-aware", "opacus")
DEFAULT_DELTA = 1e-5


class PolicyRefusal(Exception):
    """The run config asks for something weaker than the site's policy allows."""

    def __init__(self, partner: str, *, key: str, site_value: Any, requested: Any, rule: str) -> None:
        self.partner, self.key, self.site_value, self.requested = partner, key, site_value, requested
        super().__init__(
            f"policy-refused: partner '{partner}': the run config asks {key}={requested}, but the site's "
            f"privacy policy has {key}={site_value} ({rule}). It does not train or answer this run."
        )


@dataclass(frozen=True)
class SitePolicy:
    """What one site enforces, whatever the coordinator asks."""

    partner: str
    dp: bool
    privacy_unit: str
    delta: float
    accountant: str
    max_epsilon: float
    metrics: str
    source: str  # where the policy came from, for reports
    mirrors_run_config: bool = False  # simulation without a policy file
    max_received_weight: float = DEFAULT_MAX_RECEIVED_WEIGHT
    dp_engine: str = "embedding-aware"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, partner: str, source: str,
                     require_cap: bool = True, other_keys: tuple[str, ...] = ()) -> "SitePolicy":
        """Read policy keys (hyphenated, as in ``--node-config``); an unknown key is a ``ConfigError`` naming it
        and the closest of the policy keys and ``other_keys`` (the site facts beside them in a node config)."""
        where = f"privacy policy of partner '{partner}' ({source})"
        allowed = (*POLICY_KEYS, *other_keys)
        for key in values:
            if key not in POLICY_KEYS:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ConfigError(f"{where}: unknown key '{key}'; {hint}allowed: {', '.join(allowed)}")
        if require_cap and "max-epsilon" not in values:
            raise ConfigError(f"{where} has no max-epsilon: a site sets its own lifetime cap, "
                              "e.g. --node-config \"max-epsilon=8.0 ...\"")
        policy = cls(
            partner=partner,
            dp=_boolean(values.get("dp", True), "dp", where),
            privacy_unit=str(values.get("privacy-unit", "user")),
            delta=_number(values.get("delta", DEFAULT_DELTA), "delta", where),
            accountant=str(values.get("accountant", "prv")),
            max_epsilon=_number(values.get("max-epsilon", math.inf), "max-epsilon", where),
            metrics=str(values.get("metrics", "noised")),
            source=source,
            max_received_weight=_number(values.get("max-received-weight", DEFAULT_MAX_RECEIVED_WEIGHT),
                                        "max-received-weight", where),
            dp_engine=str(values.get("dp-engine", "embedding-aware")),
        )
        policy._validate(where)
        return policy

    @classmethod
    def from_file(cls, path: str | Path, *, partner: str) -> "SitePolicy":
        """A simulated site's policy: table ``[partner]`` over table ``[default]`` of a TOML file."""
        path = Path(path).expanduser()
        try:
            tables = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"site-policy: cannot read '{path}': {error}") from None
        for name, table in tables.items():
            if not isinstance(table, dict) or set(table) - set(POLICY_KEYS):
                unknown = sorted(set(table) - set(POLICY_KEYS)) if isinstance(table, dict) else table
                raise ConfigError(f"site-policy '{path}': table [{name}] has unknown key(s) {unknown}; "
                                  f"allowed: {', '.join(POLICY_KEYS)}")
        values = {**tables.get("default", {}), **tables.get(partner, {})}
        return cls.from_mapping(values, partner=partner, source=f"simulation policy file {path}")

    @classmethod
    def mirroring(cls, request: RunConfig, *, partner: str) -> "SitePolicy":
        """Simulation without a policy file: the simulated site accepts the run's privacy settings."""
        return cls(partner=partner, dp=request.dp, privacy_unit=request.privacy_unit, delta=request.target_delta,
                   accountant=request.accountant,
                   max_epsilon=request.epsilon_caps().get(partner, request.max_epsilon), metrics="noised",
                   source="simulation: the simulated site mirrors the run config", mirrors_run_config=True)

    def _validate(self, where: str) -> None:
        if self.privacy_unit not in PRIVACY_UNITS:
            raise ConfigError(f"{where}: privacy-unit '{self.privacy_unit}'; allowed: {', '.join(PRIVACY_UNITS)}")
        if self.accountant not in ACCOUNTANTS:
            raise ConfigError(f"{where}: accountant '{self.accountant}'; allowed: {', '.join(ACCOUNTANTS)}")
        if not 0 < self.delta < 1:
            raise ConfigError(f"{where}: delta must be in (0, 1) (got {self.delta})")
        if not 0 < self.max_epsilon < math.inf:
            raise ConfigError(f"{where}: max-epsilon must be a finite number > 0 (got {self.max_epsilon})")
        if not 0 < self.max_received_weight < math.inf:
            raise ConfigError(f"{where}: max-received-weight must be a finite number > 0 (got "
                              f"{self.max_received_weight})")
        if self.dp_engine not in DP_ENGINES:
            raise ConfigError(f"{where}: dp-engine '{self.dp_engine}'; allowed: {', '.join(DP_ENGINES)}")
        if self.metrics not in METRIC_RELEASES:
            raise ConfigError(f"{where}: metrics '{self.metrics}'; allowed: {', '.join(METRIC_RELEASES)}")

    def admit(self, request: RunConfig) -> RunConfig:
        """The configuration this site trains under; ``PolicyRefusal`` if the request is weaker."""
        def refuse(key: str, site_value: Any, requested: Any, rule: str):
            raise PolicyRefusal(self.partner, key=key, site_value=site_value, requested=requested, rule=rule)

        if self.dp and not request.dp:
            refuse("dp", "true", "false", "the site only releases differentially private updates")
        if self.privacy_unit == "user" and request.privacy_unit == "event":
            refuse("privacy-unit", "user", "event", "event-level DP is weaker than user-level DP")
        if request.target_delta > self.delta:
            refuse("target-delta", f"{self.delta:g}", f"{request.target_delta:g}",
                   "a larger delta is a weaker guarantee; the site computes epsilon at its own delta")
        if self.accountant == "rdp" and request.accountant == "prv":
            refuse("accountant", "rdp", "prv", "the site counts with the more conservative RDP bound")
        if request.max_epsilon > self.max_epsilon and not self.mirrors_run_config:
            refuse("max-epsilon", f"{self.max_epsilon:g}", f"{request.max_epsilon:g}",
                   f"the site's lifetime cap; run with --run-config \"max-epsilon={self.max_epsilon:g}\" or lower")
        return request.replace(
            dp=self.dp or request.dp,
            privacy_unit="user" if "user" in (self.privacy_unit, request.privacy_unit) else "event",
            target_delta=self.delta,
            accountant="rdp" if "rdp" in (self.accountant, request.accountant) else "prv",
            max_epsilon=min(request.max_epsilon, self.max_epsilon),
        )

    def to_dict(self) -> dict:
        return {"partner": self.partner, "dp": self.dp, "privacy_unit": self.privacy_unit, "delta": self.delta,
                "accountant": self.accountant, "max_epsilon": self.max_epsilon, "metrics": self.metrics,
                "max_received_weight": self.max_received_weight, "dp_engine": self.dp_engine, "source": self.source}


def _boolean(value: Any, key: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ConfigError(f"{where}: {key} must be true or false (got {value!r})")


def _number(value: Any, key: str, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key} must be a number (got {value!r})") from None
    if isinstance(value, bool) or math.isnan(number):
        raise ConfigError(f"{where}: {key} must be a number (got {value!r})")
    return number
