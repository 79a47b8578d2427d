"""Append-only, hash-chained, signed privacy ledger (JSON Lines) in a site's state directory.

Each line is one DP event (an immutable fact: what was released, with which
noise, sampling rate and steps) plus ``prev_hash``, ``hash`` and, at a site
with a key, ``key_id`` and ``signature``. ``hash`` is the SHA-256 of the
line's canonical JSON without ``hash`` and ``signature``, so editing, deleting
or reordering lines breaks the chain; ``signature`` is the site's Ed25519
signature of ``hash``, so nobody without the site's key can rebuild a
consistent chain.

After each append the site writes ``head.json``: the signed head (entry count
and last hash) and the spend so far, every field covered by ``file_signature``
(the site's signature of the whole head). Before every release the site checks
the head's signature, then the whole chain: each entry's hash, its link to the
one before and its signature. A ledger found shorter than its head, with an
edited, inserted, deleted or reordered line, or a head edited by hand makes the
site refuse to release anything (``LedgerIntegrityError``): a site never
forgets its spend. Lines and the head are fsynced before ``append`` returns:
callers append *before* the release leaves the node, so a crash can
over-count but never under-count. ``reserved()`` holds an exclusive file lock
from the budget check to the append, so two runs sharing a state directory
cannot both pass the cap.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from recmodel.atomic_write import write_atomically
from recmodel.privacy.release_summary import releases_by_kind
from recmodel.privacy.site_key import (SiteKey, fsync_directory, has_private_key, head_file_message, head_message,
                                       verify)

GENESIS_HASH = "0" * 64
MECHANISM = "poisson_subsampled_gaussian"
LEDGER_FILE = "ledger.jsonl"
HEAD_FILE = "head.json"
LOCK_FILE = "ledger.lock"
UNHASHED = ("hash", "signature")


@dataclass(frozen=True)
class DPEvent:
    """One DP release by one partner (a round of one model, or one noised evaluation)."""

    run_id: str
    round: int
    model: str
    noise_multiplier: float
    sample_rate: float
    steps: int
    max_grad_norm: float  # L2 bound of one unit's contribution (clipping norm, or a release's sensitivity)
    privacy_unit: str
    delta: float
    epsilon: float  # cumulative over the whole ledger after this event
    accountant: str
    population: int
    timestamp: float
    partner: str
    max_epsilon: float  # the partner's cap in force for this release
    mechanism: str = MECHANISM
    # the neighbouring data sets the epsilon covers: one unit (user or event) added or removed, at the planned
    # sample rate, which follows from the site's declared population, so the relation holds of what is released
    neighbouring: str = "add-or-remove-one-user"
    # what computed the release: the DP-SGD engine (embedding-aware | opacus) or the Gaussian mechanism of
    # fedrec's noised sums (gaussian-sums); entries written before this field are DP-SGD or sums by `mechanism`
    engine: str = "embedding-aware"


class LedgerIntegrityError(Exception):
    """The ledger is shorter than, or differs from, the head the site signed last."""


class DamagedLedger(LedgerIntegrityError, ValueError):
    """A ledger line cannot be read (a partial last line after a crash or a full disk, an edit): the site
    refuses, wherever it reads the ledger, until an operator restores it or acknowledges the loss."""


def entry_hash(entry: dict) -> str:
    """SHA-256 of the canonical JSON of ``entry`` without its ``hash`` and ``signature`` keys."""
    body = {k: v for k, v in entry.items() if k not in UNHASHED}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class PrivacyLedger:
    """One partner's ledger file; every model and run of that partner composes here.

    ``signed=True`` (``at_site``): entries and heads are signed with the key in
    the ledger's directory, created on the first append; the key's existence
    then records that this site has spent budget. ``signed=False``: chained
    but unsigned (tests of the chain alone).
    """

    def __init__(self, path: str | Path, *, signed: bool = False) -> None:
        self.path = Path(path)
        self.signed = signed
        self._key: SiteKey | None = None

    @classmethod
    def at_site(cls, state_dir: str | Path) -> "PrivacyLedger":
        """The signed ledger of the site whose state lives in ``state_dir``."""
        return cls(Path(state_dir) / LEDGER_FILE, signed=True)

    @property
    def key(self) -> SiteKey | None:
        """The site's key, created on first use (None for an unsigned ledger)."""
        if self.signed and self._key is None:
            self._key = SiteKey.load_or_create(self.path.parent)
        return self._key

    def entries(self) -> list[dict]:
        """All entries, oldest first ([] when the file does not exist yet)."""
        if not self.path.exists():
            return []
        entries = []
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            lines = handle.readlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as error:
                if number == len(lines) and not line.endswith("\n"):  # an append that never finished
                    raise DamagedLedger(f"{self.path}: line {number}, the last, is incomplete (a crash or a full disk "
                                     "during an append; that release never left the site)") from error
                raise DamagedLedger(f"{self.path}: line {number}: not valid JSON ({error})") from error
        return entries

    def history(self) -> list[tuple[float, float, int]]:
        """``(noise_multiplier, sample_rate, steps)`` of every entry, for an accountant."""
        return [(e["noise_multiplier"], e["sample_rate"], e["steps"]) for e in self.entries()]

    def head(self) -> tuple[int, str]:
        """(number of entries, hash of the last one): the anchor a run report records."""
        return _head_of(self.entries())

    def signed_head(self, partner: str) -> dict:
        """{"entries", "head", "signature", "key_id", "releases"}: what the site reports with each release
        (``releases``: recmodel.privacy.release_summary.releases_by_kind of the entries up to the head),
        plus, once the ledger has a signed entry, every field of ``head.json`` with its ``file_signature``:
        the coordinator's copy is signed evidence of the spend a ledger recovery must carry over."""
        entries = self.entries()
        if entries and self.key is not None:
            return {**self._head_record(entries, partner=partner), "releases": releases_by_kind(entries)}
        return {**self._signed(partner, *_head_of(entries)), "releases": releases_by_kind(entries)}

    def _signed(self, partner: str, entries: int, head: str) -> dict:
        key = self.key
        signature = key.sign(head_message(partner, entries, head)) if key else ""
        return {"entries": entries, "head": head, "signature": signature, "key_id": key.key_id if key else ""}

    @contextlib.contextmanager
    def reserved(self) -> Iterator["PrivacyLedger"]:
        """Exclusive lock on the ledger from the budget check to the append; checks continuity first."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (self.path.parent / LOCK_FILE).open("a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                self.check_continuity()
                yield self
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def check_continuity(self) -> None:
        """Raise ``LedgerIntegrityError`` when the ledger lost or changed entries the site already signed, or its
        head was edited: the head's signature, then every entry's hash, link and signature."""
        state = self.path.parent
        head_path = state / HEAD_FILE
        if not head_path.is_file():
            if self.signed and has_private_key(state):
                raise LedgerIntegrityError(
                    f"state dir {state}: the site's signing key exists, so it has released before, but its signed "
                    f"head ({HEAD_FILE}) is gone. The site refuses to release anything until an operator restores "
                    "the ledger and its head.")
            return
        recorded = self.read_head()
        try:
            entries = self.entries()
        except ValueError as error:
            raise LedgerIntegrityError(f"state dir {state}: {error}. The site refuses to release anything until an "
                                       f"operator restores the ledger or runs: fedrec site acknowledge-ledger-loss "
                                       f"{state} --note ...") from None
        count, head = int(recorded["entries"]), str(recorded["head"])
        if len(entries) < count:
            missing = count - len(entries)
            raise LedgerIntegrityError(
                f"state dir {state}: {LEDGER_FILE} has {len(entries)} entries but the site signed a head with "
                f"{count}: {missing} release(s) of privacy spend are missing. The site refuses to release anything "
                f"until an operator restores the ledger or runs: fedrec site acknowledge-ledger-loss {state} "
                "--note ...")
        if count and entries[count - 1].get("hash") != head:
            raise LedgerIntegrityError(f"state dir {state}: ledger entry {count} differs from the head the site "
                                       "signed last; the ledger was rewritten. The site refuses to release anything "
                                       "until an operator restores the ledger or runs: fedrec site "
                                       f"acknowledge-ledger-loss {state} --note ...")
        broken = self.first_broken_entry(entries)
        if broken is not None:
            raise LedgerIntegrityError(f"state dir {state}: {LEDGER_FILE} entry {broken[0]}: {broken[1]}; the ledger "
                                       "was edited. The site refuses to release anything until an operator restores "
                                       f"the ledger or runs: fedrec site acknowledge-ledger-loss {state} --note ...")

    def read_head(self) -> dict:
        """``head.json``, checked: readable, and (at a signed site) every field under the site's signature.

        A head written before ``file_signature`` existed has none; it is accepted for continuity (the chain it
        anchors is verified entry by entry) but not as evidence of spend (``recmodel.privacy.ledger_recovery``).
        """
        head_path = self.path.parent / HEAD_FILE
        try:
            head = json.loads(head_path.read_text(encoding="utf-8"))
            int(head["entries"]), str(head["head"])
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            raise LedgerIntegrityError(f"state dir {head_path.parent}: {HEAD_FILE} cannot be read ({error}); the "
                                       "site refuses to release anything until an operator restores it from a "
                                       "backup") from None
        key = self.key if self.signed and has_private_key(self.path.parent) else None
        signer = str(head.get("key_id", ""))
        if self.signed and signer and (key is None or key.key_id != signer):
            found = "no key" if key is None else f"key {key.key_id}"
            raise LedgerIntegrityError(f"state dir {head_path.parent}: {HEAD_FILE} was signed with key {signer}, but "
                                       f"the site finds {found} (a moved or deleted signing_key_dir pointer?). The "
                                       "site refuses to release anything until an operator restores its key")
        if key is not None and "file_signature" in head and not verify(
                key.public_pem, head_file_message(head), str(head["file_signature"])):
            raise LedgerIntegrityError(f"state dir {head_path.parent}: {HEAD_FILE} does not carry the site's signature "
                                       "over its fields: it was edited. The site refuses to release anything until "
                                       "an operator restores it from a backup")
        return head

    def first_broken_entry(self, entries: list[dict]) -> tuple[int, str] | None:
        """(1-based entry number, what is wrong) of the first entry whose hash, link or signature fails, or None."""
        key = self.key if self.signed and has_private_key(self.path.parent) else None
        previous = GENESIS_HASH
        for number, entry in enumerate(entries, start=1):
            if entry.get("prev_hash") != previous:
                return number, "its link to the entry before is broken (a line was deleted, inserted or reordered)"
            if entry_hash(entry) != entry.get("hash"):
                return number, "its content does not match its hash (the line was edited)"
            if key is not None and not verify(key.public_pem, str(entry["hash"]).encode("ascii"),
                                              str(entry.get("signature", ""))):
                return number, "its signature is not the site's"
            previous = entry["hash"]
        return None

    def append(self, event: DPEvent) -> dict:
        """Chain, sign, write, flush and fsync one event, then the signed head; returns the written entry."""
        entries = self.entries()
        entry = asdict(event)
        entry["prev_hash"] = entries[-1]["hash"] if entries else GENESIS_HASH
        key = self.key
        if key is not None:
            entry["key_id"] = key.key_id
        entry["hash"] = entry_hash(entry)
        if key is not None:
            entry["signature"] = key.sign(entry["hash"].encode("ascii"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if created:
            fsync_directory(self.path.parent)
        if key is not None:
            self._write_head(entries + [entry], partner=str(event.partner))
        return entry

    def _write_head(self, entries: list[dict], *, partner: str) -> None:
        """``head.json``: the signed head, plus the spend so far (enough to carry it over if the ledger is lost)."""
        head = self._head_record(entries, partner=partner)
        write_atomically(self.path.parent / HEAD_FILE,
                         lambda tmp: tmp.write_text(json.dumps(head, sort_keys=True), encoding="utf-8"))
        fsync_directory(self.path.parent)

    def _head_record(self, entries: list[dict], *, partner: str) -> dict:
        """The signed head of ``entries`` with the spend so far and its facts, every field signed
        (``file_signature``): what ``head.json`` holds and what the coordinator keeps a copy of."""
        last = entries[-1]
        spend: dict[tuple, int] = {}
        for e in entries:
            key = (e["noise_multiplier"], e["sample_rate"], e.get("mechanism", MECHANISM))
            spend[key] = spend.get(key, 0) + int(e["steps"])
        facts = {name: last[name] for name in ("epsilon", "delta", "accountant", "max_epsilon", "privacy_unit",
                                                "max_grad_norm", "population")}
        head = dict(self._signed(partner, len(entries), last["hash"]), partner=partner, **facts,
                    spend=[[sigma, rate, mechanism, steps] for (sigma, rate, mechanism), steps in spend.items()])
        head["file_signature"] = self.key.sign(head_file_message(head))  # every field, not only the head
        return head


def _head_of(entries: list[dict]) -> tuple[int, str]:
    """(number of entries, hash of the last one, or the genesis hash when there is none)."""
    return len(entries), entries[-1]["hash"] if entries else GENESIS_HASH
