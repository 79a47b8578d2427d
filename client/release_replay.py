"""A site's DP releases, kept so that a repeated request gets the same release again, never a new one.

A resumed run may ask a site again for a round it already answered: the coordinator stopped after the site
released but before it checkpointed the round. A new answer would be a second DP release of that round (paid
twice, or free if left out of the ledger). So the site keeps every release it sends, under
``<state-dir>/releases/``, and a repeated request (same run, round and phase) gets the kept bytes: sending an
already released value again reveals nothing new and costs nothing.

Each kept reply carries an HMAC (the site's ``reply-mac`` secret, ``recmodel.privacy.site_secrets``) over the
run, round, phase, the reply's bytes and the ledger entry it was sent after (count and hash); a kept reply
whose MAC does not match, or whose ledger entry is no longer there, is refused (``LedgerIntegrityError``)
rather than sent: nobody with write access to the state directory can make the site send doctored bytes.

Before computing a release the site writes a marker with its ledger's length. If it finds a marker without a
kept release (it stopped while releasing), it compares: ledger unchanged, nothing was released and it answers
normally; ledger longer, the round was recorded but its output is lost, and it refuses the round
(``LedgerIntegrityError``) rather than release it a second time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from flwr.app import RecordDict
from flwr.common.serde import recorddict_from_proto, recorddict_to_proto
from flwr.proto.recorddict_pb2 import RecordDict as ProtoRecordDict

from recmodel.atomic_write import write_atomically
from recmodel.privacy.ledger import GENESIS_HASH, LedgerIntegrityError, PrivacyLedger
from recmodel.privacy.site_secrets import site_secret


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
            payload = kept.read_bytes()
            self._check_mac(server_round, phase, payload)
            proto = ProtoRecordDict()
            proto.ParseFromString(payload)
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
        """Keep the release about to be sent and its MAC (each atomically), then drop the marker."""
        payload = recorddict_to_proto(content).SerializeToString()
        entries = PrivacyLedger.at_site(self.state_dir).entries()
        anchor = {"ledger_entries": len(entries), "ledger_head": entries[-1]["hash"] if entries else GENESIS_HASH}
        anchor["mac"] = self._mac(server_round, phase, payload, anchor)
        write_atomically(self._path(server_round, phase, "mac"), lambda tmp: tmp.write_text(json.dumps(anchor)))
        write_atomically(self._path(server_round, phase, "pb"), lambda tmp: tmp.write_bytes(payload))
        self._path(server_round, phase, "pending").unlink(missing_ok=True)

    def _mac(self, server_round: int, phase: str, payload: bytes, anchor: dict) -> str:
        header = json.dumps([self.run_id, server_round, phase, anchor["ledger_entries"], anchor["ledger_head"]])
        return hmac.new(site_secret(self.state_dir, "reply-mac"), header.encode("utf-8") + b"|" + payload,
                        hashlib.sha256).hexdigest()

    def _check_mac(self, server_round: int, phase: str, payload: bytes) -> None:
        """Raise ``LedgerIntegrityError`` unless the kept reply's MAC matches and its ledger entry is there."""
        where = f"run {self.run_id} round {server_round} ({phase}): the kept reply"
        try:
            anchor = json.loads(self._path(server_round, phase, "mac").read_text())
            expected = self._mac(server_round, phase, payload, anchor)
        except (OSError, ValueError, KeyError, TypeError):
            raise LedgerIntegrityError(f"{where} has no readable MAC; the site does not send it again") from None
        if not hmac.compare_digest(expected, str(anchor.get("mac", ""))):
            raise LedgerIntegrityError(f"{where} does not match its MAC: it was edited; the site does not send it")
        entries = PrivacyLedger.at_site(self.state_dir).entries()
        count = int(anchor["ledger_entries"])
        head = entries[count - 1]["hash"] if 0 < count <= len(entries) else GENESIS_HASH if count == 0 else None
        if head != anchor["ledger_head"]:
            raise LedgerIntegrityError(f"{where} was sent after ledger entry {count}, which is no longer in the "
                                       "ledger; the site does not send it again")
