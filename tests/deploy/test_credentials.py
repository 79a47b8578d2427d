"""``fedrec deploy init``: a CA, the SuperLink's certificate, SuperNode keys Flower can load, private keys 0600."""

from __future__ import annotations

import ipaddress
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_ssh_private_key, \
    load_ssh_public_key

from deploy.credentials import CredentialsError, create_credentials, parse_partners
from recmodel.cli import main


def test_init_writes_a_ca_a_superlink_certificate_and_one_key_pair_per_partner(tmp_path, capsys):
    out = tmp_path / "creds"
    assert main(["deploy", "init", "--partners", "shop-a,shop-b", "--superlink-host", "link.example.com",
                 "--superlink-host", "10.0.0.5", "--out", str(out)]) == 0
    ca = x509.load_pem_x509_certificate((out / "ca" / "ca.crt").read_bytes())
    server = x509.load_pem_x509_certificate((out / "superlink" / "server.crt").read_bytes())
    ca.public_key().verify(server.signature, server.tbs_certificate_bytes, ec.ECDSA(server.signature_hash_algorithm))
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["link.example.com"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server_key = load_pem_private_key((out / "superlink" / "server.key").read_bytes(), None)
    assert server_key.public_key().public_numbers() == server.public_key().public_numbers()

    for partner in ("shop-a", "shop-b"):
        folder = out / "partners" / partner
        private = load_ssh_private_key((folder / "supernode.key").read_bytes(), None)  # as flower-supernode loads it
        public = load_ssh_public_key((folder / "supernode.pub").read_bytes())  # as flwr supernode register does
        assert isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name == "secp384r1"
        assert private.public_key().public_numbers() == public.public_numbers()
        assert (folder / "ca.crt").read_bytes() == (out / "ca" / "ca.crt").read_bytes()
        handover = (folder / "HANDOVER.txt").read_text()
        assert f"partners/{partner}/supernode.key" in handover and "link.example.com:9092" in handover
        assert "ca/ca.key" in handover.split("Never leaves the coordinator:")[1]
    private_keys = [out / "ca" / "ca.key", out / "superlink" / "server.key",
                    *(out / "partners" / p / "supernode.key" for p in ("shop-a", "shop-b"))]
    assert {stat.S_IMODE(key.stat().st_mode) for key in private_keys} == {0o600}
    assert "shop-b: hand over what" in capsys.readouterr().out


def test_partner_keys_differ_and_a_second_init_into_the_same_directory_is_refused(tmp_path):
    credentials = create_credentials(tmp_path, ("a", "b"), ("127.0.0.1",), "127.0.0.1:9092")
    assert credentials.partner_public_key("a").read_bytes() != credentials.partner_public_key("b").read_bytes()
    with pytest.raises(CredentialsError, match="already exist"):
        create_credentials(tmp_path, ("c",), ("127.0.0.1",), "127.0.0.1:9092")


@pytest.mark.parametrize("text, problem", [("", "at least one"), ("a,a", "repeated"), ("a,../b", "invalid"),
                                           ("shop a", "invalid")])
def test_bad_partner_lists_are_named(text, problem):
    with pytest.raises(CredentialsError, match=problem):
        parse_partners(text)


def test_a_bad_partner_list_on_the_command_line_exits_2_with_one_line(tmp_path, capsys):
    assert main(["deploy", "init", "--partners", "a,a", "--superlink-host", "h", "--out", str(tmp_path / "c")]) == 2
    assert capsys.readouterr().err.strip().startswith("fedrec: error: --partners: repeated")


@pytest.mark.parametrize("arguments, problem", [
    (["--superlink-host", ""], "--superlink-host '': not an IP address or a DNS host name"),
    (["--superlink-host", "bad host!"], "--superlink-host 'bad host!': not an IP address or a DNS host name"),
    (["--superlink-host", "h", "--superlink-port", "99999"], "--superlink-port 99999: not a TCP port (1-65535)"),
])
def test_bad_hosts_and_ports_are_refused_before_anything_is_written_and_a_retry_works(tmp_path, capsys, arguments,
                                                                                     problem):
    out = tmp_path / "c"
    assert main(["deploy", "init", "--partners", "a,b", *arguments, "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"fedrec: error: {problem}"
    assert list(tmp_path.iterdir()) == []  # no half-written ca/ca.key to block the retry
    assert main(["deploy", "init", "--partners", "a,b", "--superlink-host", "h.example.org", "--out", str(out)]) == 0
    assert (out / "ca" / "ca.key").is_file() and not list(tmp_path.glob(".c.partial-*"))


@pytest.mark.parametrize("arguments, problem", [(["--users", "0"], "--users: expected an integer >= 1, got 0"),
                                                 (["--max-epsilon", "nan"], "expected a finite epsilon"),
                                                 (["--partners", "0"], "--partners: expected an integer >= 1")])
def test_deploy_local_checks_its_arguments_before_starting_anything(tmp_path, capsys, arguments, problem):
    with pytest.raises(SystemExit) as stop:
        main(["deploy", "local", *arguments, "--out", str(tmp_path / "demo")])
    assert stop.value.code == 2 and problem in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()
