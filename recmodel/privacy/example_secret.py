"""A site's secret key for the randomness of its training examples (where each user's sequence is cut, which
negatives are drawn).

``recmodel.data.examples`` keys every user's generator by (this secret, the round, the user's id, the draw):
one user's example never depends on another user's presence, and the coordinator, who chooses the run
config's ``seed``, cannot predict which items a user's example holds. The secret is 128 bits from
``secrets`` (the OS's secure source), created on first use in the site's state directory (mode 0600) and kept
across runs. It is not the DP mechanism's randomness: that is drawn fresh per release
(``recmodel.privacy.mechanism_rng``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILE = "example_secret"
SECRET_BYTES = 16


def example_secret(state_dir: str | Path) -> int:
    """The site's example secret (created on first use)."""
    path = Path(state_dir) / SECRET_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.tmp")
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
        raise ValueError(f"{path}: the site's example secret is damaged ({len(text)} hex digits, "
                         f"expected {2 * SECRET_BYTES}); delete the file to draw a new one")
    return int(text, 16)


def example_seed(state_dir: str | Path, server_round: int) -> list[int]:
    """What keys a round's examples at a site: [secret, round] (``TrainingExamples(seed=...)``)."""
    return [example_secret(state_dir), int(server_round)]
