import json
import os

from recmodel.privacy.ledger import GENESIS_HASH, DPEvent, PrivacyLedger, entry_hash


def _event(round_, epsilon):
    return DPEvent(run_id="r", round=round_, model="dlrm", noise_multiplier=1.1, sample_rate=0.1, steps=10,
                   max_grad_norm=0.5, privacy_unit="user", delta=1e-5, epsilon=epsilon,
                   accountant="opacus-prv 1.6.0", population=100, timestamp=1.0, partner="p", max_epsilon=10.0)


def test_entries_are_chained_and_synced(tmp_path):
    ledger = PrivacyLedger(tmp_path / "sub" / "ledger.jsonl")
    first = ledger.append(_event(1, 1.0))
    second = ledger.append(_event(2, 1.5))
    assert first["prev_hash"] == GENESIS_HASH
    assert second["prev_hash"] == first["hash"]
    assert all(entry_hash(e) == e["hash"] for e in ledger.entries())
    assert ledger.history() == [(1.1, 0.1, 10), (1.1, 0.1, 10)]
    assert os.path.getsize(ledger.path) > 0


def test_editing_a_number_breaks_the_hash(tmp_path):
    ledger = PrivacyLedger(tmp_path / "ledger.jsonl")
    ledger.append(_event(1, 1.0))
    entry = ledger.entries()[0]
    entry["epsilon"] = 0.5
    assert entry_hash(entry) != entry["hash"]
    assert json.loads(ledger.path.read_text())["epsilon"] == 1.0
