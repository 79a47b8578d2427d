"""A site's Ed25519 signing key: what makes its ledger evidence for a third party.

Created on first use: ``site_key.pem`` (private, PKCS#8, mode 0600) and
``site_key.pub`` (public, SubjectPublicKeyInfo PEM) in the site's key directory:
its state directory, or the directory its node config names
(``signing-key-dir``, e.g. on another volume, so that whoever can write the
ledger need not be able to read the key; ``use_key_dir`` records it in the state
directory's ``signing_key_dir`` file). The public key is also kept beside the
ledger, for auditors.
The site signs every ledger entry's hash and every ledger head it reports; the
coordinator keeps the signed heads it received (in the run's privacy report),
so a site that later shortens or rewrites its ledger, and a coordinator that
forges or edits its record, are each caught by ``fedrec audit``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PRIVATE_KEY_FILE = "site_key.pem"
PUBLIC_KEY_FILE = "site_key.pub"
KEY_DIR_FILE = "signing_key_dir"  # in the state directory: where the key lives when not beside the ledger
HEAD_DOMAIN = "fedrec-ledger-head/v1"
HEAD_FILE_DOMAIN = "fedrec-ledger-head-file/v1"
UNSIGNED_HEAD_FIELDS = ("file_signature", "releases", "round", "kind")  # what a coordinator's copy adds


class SiteKey:
    """The private half, held only at the site."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
        self.key_id = key_id(self.public_pem)

    @classmethod
    def load_or_create(cls, state_dir: str | Path) -> "SiteKey":
        """The site's key from its key directory (``key_dir``); a new one (0600, fsynced) on first use."""
        state_dir = Path(state_dir)
        folder = key_dir(state_dir)
        private_path = folder / PRIVATE_KEY_FILE
        if private_path.exists():
            key = cls(serialization.load_pem_private_key(private_path.read_bytes(), password=None))
            if not (state_dir / PUBLIC_KEY_FILE).exists():
                state_dir.mkdir(parents=True, exist_ok=True)
                (state_dir / PUBLIC_KEY_FILE).write_text(key.public_pem, encoding="ascii")
            return key
        folder.mkdir(parents=True, exist_ok=True)
        state_dir.mkdir(parents=True, exist_ok=True)
        key = cls(Ed25519PrivateKey.generate())
        pem = key._private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        for where in {folder, state_dir}:
            (where / PUBLIC_KEY_FILE).write_text(key.public_pem, encoding="ascii")
            fsync_directory(where)
        return key

    def sign(self, message: bytes) -> str:
        return self._private.sign(message).hex()


def key_dir(state_dir: str | Path) -> Path:
    """Where the site's private key lives: the folder named in the state directory's ``signing_key_dir`` file, or
    the state directory itself."""
    pointer = Path(state_dir) / KEY_DIR_FILE
    return Path(pointer.read_text(encoding="utf-8").strip()) if pointer.is_file() else Path(state_dir)


def has_private_key(state_dir: str | Path) -> bool:
    """Whether the site has a signing key (and so has released before)."""
    return (key_dir(state_dir) / PRIVATE_KEY_FILE).exists()


def use_key_dir(state_dir: str | Path, folder: str | Path) -> None:
    """Record that the site's key lives in ``folder`` (a node config's ``signing-key-dir``).

    Refused (``ValueError``) when the state directory already names another folder, or holds a key of its own:
    moving a key is an operator's step, done by hand, not a side effect of a changed node config.
    """
    state_dir, folder = Path(state_dir), Path(folder).expanduser().resolve()
    pointer = state_dir / KEY_DIR_FILE
    if pointer.is_file():
        if Path(pointer.read_text(encoding="utf-8").strip()) != folder:
            raise ValueError(f"state dir {state_dir}: its key lives in {key_dir(state_dir)}, not in the node "
                             f"config's signing-key-dir {folder}; move the key by hand and edit {pointer}")
        return
    if (state_dir / PRIVATE_KEY_FILE).exists():
        raise ValueError(f"state dir {state_dir} holds the site's key; move {PRIVATE_KEY_FILE} to {folder} by hand "
                         f"and write that folder into {pointer}, or drop signing-key-dir from the node config")
    state_dir.mkdir(parents=True, exist_ok=True)
    pointer.write_text(str(folder), encoding="utf-8")
    fsync_directory(state_dir)


def key_id(public_pem: str) -> str:
    """Short fingerprint: SHA-256 of the public key PEM, first 16 hex digits."""
    return hashlib.sha256(public_pem.encode("ascii")).hexdigest()[:16]


def read_public_key(state_dir: str | Path) -> str | None:
    path = Path(state_dir) / PUBLIC_KEY_FILE
    return path.read_text(encoding="ascii") if path.is_file() else None


def verify(public_pem: str, message: bytes, signature_hex: str) -> bool:
    """True when ``signature_hex`` is the key's Ed25519 signature of ``message``."""
    try:
        public = serialization.load_pem_public_key(public_pem.encode("ascii"))
        if not isinstance(public, Ed25519PublicKey):
            return False
        public.verify(bytes.fromhex(signature_hex), message)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def head_message(partner: str, entries: int, head: str) -> bytes:
    """What a signed head signs: the partner, the number of ledger entries and the last entry's hash."""
    return f"{HEAD_DOMAIN}|{partner}|{entries}|{head}".encode("utf-8")


def head_file_message(head: dict) -> bytes:
    """What ``head.json``'s ``file_signature`` signs: every other field of the head, as canonical JSON
    (``releases``, the unsigned summary the coordinator's copy adds, and its ``round``/``kind`` excepted)."""
    body = {key: value for key, value in head.items() if key not in UNSIGNED_HEAD_FIELDS}
    return (HEAD_FILE_DOMAIN + "|" + json.dumps(body, sort_keys=True, separators=(",", ":"))).encode("utf-8")


def fsync_directory(path: str | Path) -> None:
    """Make a file created in ``path`` survive a crash (the directory entry is on disk)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
