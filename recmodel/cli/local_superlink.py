"""The local SuperLink ``flwr run`` starts on its own, and stopping it when ``fedrec run`` started it.

``flwr run .`` with the default connection starts a local SuperLink (``flower-superlink ... --log-file
<FLWR_HOME>/local-superlink/superlink.log``) when none is running, and leaves it running after the job.
``fedrec run`` notes the local SuperLinks of its Flower home before the job; one that appears during the job
was started by it, and is stopped afterwards (SIGTERM, then SIGKILL after ``STOP_GRACE_SECONDS``) unless
``--keep-superlink``. A SuperLink that was already running is never touched.
"""

from __future__ import annotations

import os
from pathlib import Path

STOP_GRACE_SECONDS = 10.0


def flwr_home() -> Path:
    """Flower's home directory: ``$FLWR_HOME``, else ``~/.flwr``."""
    return Path(os.environ.get("FLWR_HOME") or Path.home() / ".flwr").expanduser()


def local_superlinks(home: Path) -> set[int]:
    """Pids of this user's ``flower-superlink`` processes whose log lives in ``home``'s local-superlink folder."""
    marker = str(home / "local-superlink") + os.sep
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # the process ended meanwhile
            continue
        words = [a.decode("utf-8", "replace") for a in arguments]
        if any(w.endswith("flower-superlink") for w in words) and any(marker in w for w in words):
            found.add(int(entry.name))
    return found
