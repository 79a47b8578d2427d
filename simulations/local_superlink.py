"""A private local SuperLink for scripted ``flwr run``s: own Flower home, own ports, stopped by pid.

``flwr run`` starts a local SuperLink on fixed ports (39091, 39093) unless told otherwise, and reuses any
SuperLink it finds there, even one another user started (and may stop under our run). Sweeps and the
end-to-end tests therefore run with their own ``FLWR_HOME`` and free ports, and afterwards stop exactly the
processes whose environment holds that ``FLWR_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path

from recmodel.processes import free_port


def private_flower_env(home: Path) -> dict[str, str]:
    """The current environment with its own Flower home and local SuperLink ports, no runtime installs."""
    return dict(os.environ, FLWR_HOME=str(home), FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1",
                FLWR_LOCAL_SUPERLINK_HTTP_API_PORT=str(free_port()), FLWR_LOCAL_CONTROL_API_PORT=str(free_port()))
