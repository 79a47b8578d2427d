"""docs/deployment.md shows the commands ``deploy.commands`` builds, which ``fedrec deploy local`` and the
deployment tests run: rendered here with the documentation's example paths, each must appear verbatim."""

from __future__ import annotations

from pathlib import Path

from deploy.commands import (connection_toml, node_config, register_command, run_command, shell, superexec_command,
                             superlink_command, supernode_command)

DOC = "\n".join(line.strip() for line in  # code blocks indented in list items compare unindented
                (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text().splitlines())
CREDS = "/srv/fedrec/credentials"
PARTNER_CONFIG = node_config(partner="shop-a", data_path="/data/fedrec/events.parquet",
                             catalogue_path="/data/fedrec/catalogue.parquet", state_dir="/var/lib/fedrec",
                             max_epsilon=8.0, expected_users=50000)


def test_the_documented_commands_are_the_ones_the_tooling_runs():
    commands = [
        superlink_command(CREDS, host="0.0.0.0", port=9092, database="/srv/fedrec/superlink.db"),
        register_command(f"{CREDS}/partners/shop-a/supernode.pub"),
        supernode_command(superlink="link.example.com:9092", partner_dir="/etc/fedrec", runtime_port=9094,
                          config=PARTNER_CONFIG),
        superexec_command(runtime_port=9094),
        run_command(".", "num-server-rounds=5 item-buckets=4096 user-attributes='user_age_band' max-epsilon=8.0"),
    ]
    for command in commands:
        assert shell(command) in DOC, shell(command)
    assert connection_toml("link.example.com:9092", f"{CREDS}/ca/ca.crt").strip() in DOC


def test_every_node_config_key_a_site_owns_is_documented():
    from client.site import SITE_KEYS
    from recmodel.privacy.policy import POLICY_KEYS

    for key in (*SITE_KEYS, *POLICY_KEYS):
        assert f"| `{key}` |" in DOC, key
