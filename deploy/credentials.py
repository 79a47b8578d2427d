"""Credentials for a deployed federation, made with the ``cryptography`` package (no openssl).

``create_credentials`` writes, under ``out``::

    ca/ca.crt, ca/ca.key                 the federation's certificate authority (keep ca.key offline)
    superlink/server.crt, server.key     the SuperLink's TLS certificate (signed by the CA) and key
    superlink/ca.crt                     the CA certificate (its --ssl-ca-certfile)
    partners/<name>/supernode.key        the partner's SuperNode authentication key (OpenSSH EC P-384)
    partners/<name>/supernode.pub        its public key: the coordinator registers it
    partners/<name>/ca.crt               the CA certificate the partner verifies the SuperLink with
    partners/<name>/HANDOVER.txt         exactly what to hand the partner, and what stays with the coordinator

Every private key file is written with mode 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from recmodel.errors import DataError

VALID_DAYS = 365
PARTNER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class CredentialsError(DataError):
    """Bad input to ``create_credentials`` (partner names, host names, an existing output)."""


@dataclass(frozen=True)
class Credentials:
    root: Path
    partners: tuple[str, ...]

    @property
    def ca_certificate(self) -> Path:
        return self.root / "ca" / "ca.crt"

    @property
    def superlink_certificate(self) -> Path:
        return self.root / "superlink" / "server.crt"

    @property
    def superlink_key(self) -> Path:
        return self.root / "superlink" / "server.key"

    def partner_dir(self, partner: str) -> Path:
        return self.root / "partners" / partner

    def partner_private_key(self, partner: str) -> Path:
        return self.partner_dir(partner) / "supernode.key"

    def partner_public_key(self, partner: str) -> Path:
        return self.partner_dir(partner) / "supernode.pub"


def parse_partners(text: str) -> tuple[str, ...]:
    """``"a,b,c"`` -> ("a", "b", "c"); names are unique and safe as file and directory names."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise CredentialsError("--partners: give at least one partner name, e.g. --partners shop-a,shop-b")
    bad = [name for name in names if not PARTNER_NAME.match(name)]
    if bad:
        raise CredentialsError(f"--partners: invalid name(s) {bad}: use letters, digits, '.', '_' or '-'")
    if len(set(names)) != len(names):
        raise CredentialsError(f"--partners: repeated name(s) in {list(names)}")
    return names


HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def parse_hosts(hosts: tuple[str, ...]) -> tuple[str, ...]:
    """Each ``--superlink-host``: an IP address or a DNS name (labels of letters, digits and inner hyphens)."""
    if not hosts:
        raise CredentialsError("--superlink-host: give at least one host name or IP address")
    for host in hosts:
        try:
            ipaddress.ip_address(host)
            continue
        except ValueError:
            pass
        if not host or len(host) > 253 or not all(HOST_LABEL.match(label) for label in host.rstrip(".").split(".")):
            raise CredentialsError(f"--superlink-host {host!r}: not an IP address or a DNS host name")
    return hosts


def parse_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise CredentialsError(f"--superlink-port {port}: not a TCP port (1-65535)")
    return port


def create_credentials(out: Path, partners: tuple[str, ...], superlink_hosts: tuple[str, ...],
                       superlink_address: str) -> Credentials:
    """Write a CA, the SuperLink's TLS certificate for ``superlink_hosts`` and one SuperNode key pair per partner.

    ``superlink_address`` (host:port) goes into each partner's hand-over note. Refuses to overwrite an
    existing credentials directory: a second CA would silently invalidate every partner's certificate.
    """
    out = Path(out)
    if (out / "ca" / "ca.key").exists():
        raise CredentialsError(f"{out}: credentials already exist there (ca/ca.key); choose another --out")
    parse_hosts(superlink_hosts)
    if out.exists() and any(out.iterdir()):
        raise CredentialsError(f"{out}: not empty; choose a new directory for the credentials")
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")  # renamed to ``out`` only once complete
    try:
        _create_into(staging, partners, superlink_hosts, superlink_address)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return Credentials(out, partners)


def _create_into(out: Path, partners: tuple[str, ...], superlink_hosts: tuple[str, ...],
                 superlink_address: str) -> Credentials:
    credentials = Credentials(out, partners)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_cert = _ca_certificate(ca_key)
    _write_key(credentials.root / "ca" / "ca.key", _pem_private(ca_key))
    _write(credentials.ca_certificate, ca_cert.public_bytes(serialization.Encoding.PEM))

    server_key = ec.generate_private_key(ec.SECP384R1())
    server_cert = _server_certificate(server_key, ca_key, ca_cert, superlink_hosts)
    _write_key(credentials.superlink_key, _pem_private(server_key))
    _write(credentials.superlink_certificate, server_cert.public_bytes(serialization.Encoding.PEM))
    _write(out / "superlink" / "ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM))

    for partner in partners:
        key = ec.generate_private_key(ec.SECP384R1())
        _write_key(credentials.partner_private_key(partner), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
        _write(credentials.partner_public_key(partner), key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + f" fedrec-{partner}\n".encode())
        _write(credentials.partner_dir(partner) / "ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM))
        _write(credentials.partner_dir(partner) / "HANDOVER.txt",
               _handover_note(partner, superlink_address).encode())
    return credentials


def _handover_note(partner: str, superlink_address: str) -> str:
    return (
        f"Hand to partner '{partner}' (over a channel you trust), and to nobody else:\n"
        f"  partners/{partner}/supernode.key   its SuperNode authentication key (private: mode 0600, never copy it "
        "elsewhere)\n"
        f"  partners/{partner}/ca.crt          the CA certificate: its SuperNode verifies the SuperLink with it\n"
        f"  the SuperLink address              {superlink_address}\n"
        "Keeps with the coordinator:\n"
        f"  partners/{partner}/supernode.pub   registered at the SuperLink: "
        f"flwr supernode register partners/{partner}/supernode.pub <connection>\n"
        "Never leaves the coordinator: ca/ca.key, superlink/server.key, the other partners' files.\n"
        "The partner starts its node as in docs/deployment.md, 'A partner's steps'.\n"
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fedrec federation"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=VALID_DAYS))


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    builder = _validity(x509.CertificateBuilder().subject_name(_name("fedrec federation CA"))
                        .issuer_name(_name("fedrec federation CA")).public_key(key.public_key())
                        .serial_number(x509.random_serial_number()))
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).add_extension(
        x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                      key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                      decipher_only=False), critical=True)
    return builder.sign(key, hashes.SHA384())


def _server_certificate(key, ca_key, ca_cert: x509.Certificate, hosts: tuple[str, ...]) -> x509.Certificate:
    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    builder = _validity(x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(ca_cert.subject)
                        .public_key(key.public_key()).serial_number(x509.random_serial_number()))
    builder = (builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    return builder.sign(ca_key, hashes.SHA384())


def _pem_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _write_key(path: Path, data: bytes) -> None:
    """A private key, created with mode 0600 (never world-readable, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.chmod(path, 0o600)
