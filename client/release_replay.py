"""A site's DP releases, kept so that a repeated request gets the same release again, never a new one.

A resumed run may ask a site again for a round it already answered: the coordinator stopped after the site
released but before it checkpointed the round. A new answer would be a second DP release of that round (paid
twice, or free if left out of the ledger). So the site keeps every release it sends, under
``<state-dir>/releases/``, and a repeated request (same run, round and phase) gets the kept bytes: sending an
already released value again reveals nothing new and costs nothing.

Before computing a release the site writes a marker with its ledger's length. If it finds a marker without a
kept release (it stopped while releasing), it compares: ledger unchanged, nothing was released and it answers
normally; ledger longer, the round was recorded but its output is lost, and it refuses the round
(``LedgerIntegrityError``) rather than release it a second time.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flwr.app import RecordDict
from flwr.common.serde import recorddict_from_proto, recorddict_to_proto
from flwr.proto.recorddict_pb2 import RecordDict as ProtoRecordDict

from recmodel.atomic_write import write_atomically
from recmodel.privacy.ledger import LedgerIntegrityError, PrivacyLedger


class ReleaseReplay:
    """Kept releases of one run at one site."""

    def __init__(self, state_dir: Path, run_id: str) -> None:
        self.state_dir, self.run_id = Path(state_dir), run_id
        self.folder = self.state_dir / "releases" / hashlib.sha256(run_id.encode()).hexdigest()[:16]

    def _path(self, server_round: int, phase: str, suffix: str) -> Path:
        return self.folder / f"round-{server_round}-{phase}.{suffix}"

    def _ledger_length(self) -> int:
        return len(PrivacyLedger.at_site(self.state_dir).entries())

    def recall(self, server_round: int, phase: str) -> RecordDict | None:
        """The release kept for this round and phase, or None (after marking that one is being made)."""
        kept, marker = self._path(server_round, phase, "pb"), self._path(server_round, phase, "pending")
        if kept.is_file():
            proto = ProtoRecordDict()
            proto.ParseFromString(kept.read_bytes())
            return recorddict_from_proto(proto)
        if marker.is_file():
            before = json.loads(marker.read_text())["ledger_entries"]
            if self._ledger_length() > before:
                raise LedgerIntegrityError(
                    f"run {self.run_id} round {server_round} ({phase}): the site recorded this release in its "
                    f"ledger but did not keep its output ({kept}); releasing it again would pay twice, so the site "
                    "sits this round out")
        self.folder.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"ledger_entries": self._ledger_length()}))
        return None

    def keep(self, server_round: int, phase: str, content: RecordDict) -> None:
        """Keep the release about to be sent (atomically), then drop the marker."""
        payload = recorddict_to_proto(content).SerializeToString()
        write_atomically(self._path(server_round, phase, "pb"), lambda tmp: tmp.write_bytes(payload))
        self._path(server_round, phase, "pending").unlink(missing_ok=True)
