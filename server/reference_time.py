"""The run's reference time for recency features, resolved once by the coordinator and sent to every site.

Recency measured against a site's own latest event would tie every user's features to the others' (remove the
latest user and everyone's recency changes), so DP-SGD's per-user sensitivity would no longer hold. The
coordinator resolves ``reference-time`` = 0 to a public value instead: the simulated data's latest event
(simulation: the server reads that data anyway), or its own clock at the run's start (deployment: it reads no
partner data). A resumed run keeps the value of the run it resumes.
"""

from __future__ import annotations

import time

from recmodel.config import RunConfig
from recmodel.data.federated import FederatedData


def resolve_reference_time(config: RunConfig, data: FederatedData | None, resumed_config: dict | None) -> RunConfig:
    """``config`` with ``reference_time`` resolved (unchanged when the run config sets one)."""
    if resumed_config is not None and float(resumed_config.get("reference-time", 0.0)) > 0:
        return config.replace(reference_time=float(resumed_config["reference-time"]))
    if config.reference_time > 0:
        return config
    times = data.users.train_times if data is not None else ()
    return config.replace(reference_time=float(times.max()) if len(times) else float(int(time.time())))
