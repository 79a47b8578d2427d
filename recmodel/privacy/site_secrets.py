"""A site's secret keys, kept in its state directory (mode 0600), created on first use, never sent.

- ``example``: keys the randomness of its training examples (where each user's sequence is cut, which
  negatives are drawn). ``recmodel.data.examples`` keys every user's generator by (this secret, the round, the
  user's id, the draw): one user's example never depends on another user's presence, and the coordinator,
  who chooses the run config's ``seed``, cannot predict which items a user's example holds.
- ``reply-mac``: the HMAC key of the replies a site keeps for replay (``client.release_replay``), so that a
  kept reply edited on disk is refused rather than sent.

Each is 128 bits from ``secrets`` (the OS's secure source). Neither is the DP mechanism's randomness: that is
drawn fresh per release (``recmodel.privacy.mechanism_rng``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILES = {"example": "example_secret", "reply-mac": "reply_mac_key"}
SECRET_BYTES = 16


def site_secret(state_dir: str | Path, purpose: str) -> bytes:
    """The site's secret for ``purpose`` (``SECRET_FILES``), created whole on first use."""
    path = Path(state_dir) / SECRET_FILES[purpose]
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(SECRET_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # whole or not at all; if another process linked first, its secret stands
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    text = path.read_text(encoding="ascii").strip()
    if len(text) != 2 * SECRET_BYTES:
        raise ValueError(f"{path}: the site's {purpose} secret is damaged ({len(text)} hex digits, expected "
                         f"{2 * SECRET_BYTES})")
    return bytes.fromhex(text)


def example_seed(state_dir: str | Path, server_round: int, *, dp: bool, run_seed: int) -> list[int]:
    """What keys a round's examples at a site (``TrainingExamples(seed=...)``): [secret, round] under DP;
    without DP (a simulation only: no site releases non-DP), [the run config's seed, round], so that a
    non-private simulation is reproducible from its run config."""
    if not dp:
        return [int(run_seed), int(server_round)]
    return [int.from_bytes(site_secret(state_dir, "example"), "big"), int(server_round)]
