"""The exact command lines of a deployed federation, in one place.

``docs/deployment.md`` shows these commands with placeholder paths (``$CREDS``, ``$DATA``, ...), and
``fedrec deploy local`` runs them with real paths on loopback; ``tests/deploy/test_docs.py`` checks that the
documented lines are the rendered ones, so the two cannot drift apart.
"""

from __future__ import annotations

import shlex

CONNECTION = "fedrec"  # the name of the SuperLink connection in the Flower config (FLWR_HOME/config.toml)


def superlink_command(creds: str, *, host: str, port: int | str, database: str) -> list[str]:
    """The coordinator's SuperLink: TLS with the federation's certificate, only registered SuperNodes admitted."""
    return ["flower-superlink",
            "--ssl-ca-certfile", f"{creds}/superlink/ca.crt",
            "--ssl-certfile", f"{creds}/superlink/server.crt",
            "--ssl-keyfile", f"{creds}/superlink/server.key",
            "--enable-supernode-auth",
            "--host", host, "--port", str(port),
            "--database", database,
            "--disable-runtime-dependency-installation"]


def connection_toml(address: str, root_certificates: str) -> str:
    """``FLWR_HOME/config.toml`` naming the coordinator's SuperLink for ``flwr`` (run, supernode register, ls)."""
    return (f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
            f'address = "{address}"\nroot-certificates = "{root_certificates}"\n')


def register_command(public_key: str) -> list[str]:
    """Registers a partner's SuperNode public key; only registered keys may connect."""
    return ["flwr", "supernode", "register", public_key, CONNECTION, "--format", "json"]


def list_supernodes_command() -> list[str]:
    """Lists the registered SuperNodes and their status (registered, online, offline) as JSON."""
    return ["flwr", "supernode", "list", CONNECTION, "--format", "json"]


def node_config(*, partner: str, data_path: str, catalogue_path: str, state_dir: str, max_epsilon: float | str,
                expected_users: int | str) -> str:
    """A site's own ``--node-config`` (``client.site``): who it is, its data, the federation's declared item
    catalogue, its state, its privacy cap, and the public bound on its users that its DP plan uses instead of
    the exact count."""
    return (f"partner-name='{partner}' data-path='{data_path}' catalogue-path='{catalogue_path}' "
            f"state-dir='{state_dir}' max-epsilon={max_epsilon} expected-users={expected_users}")


def supernode_command(*, superlink: str, partner_dir: str, runtime_port: int | str, config: str) -> list[str]:
    """A partner's SuperNode: verifies the SuperLink with the CA, authenticates with its own key; its ClientApp
    processes come from the site's own SuperExec (``superexec_command``) on ``runtime_port``."""
    return ["flower-supernode",
            "--superlink", superlink,
            "--root-certificates", f"{partner_dir}/ca.crt",
            "--auth-supernode-private-key", f"{partner_dir}/supernode.key",
            "--isolation", "process",
            "--port", str(runtime_port),
            "--node-config", config]


def superexec_command(*, runtime_port: int | str, supernode_pid: int | None = None) -> list[str]:
    """The site's SuperExec next to its SuperNode (``deploy.prewarmed_executor``): it starts the ClientApp
    process of each message, with the libraries already loaded. Loopback only, like Flower's own. With
    ``supernode_pid`` it exits when that SuperNode does (a service manager binds the two instead)."""
    command = ["fedrec-superexec", "--runtime-api-address", f"127.0.0.1:{runtime_port}", "--insecure"]
    return command if supernode_pid is None else [*command, "--parent-pid", str(supernode_pid)]


def run_command(app: str, run_config: str) -> list[str]:
    """Submits the app to the coordinator's SuperLink; exits non-zero when the run fails."""
    return ["fedrec", "run", app, CONNECTION, "--run-config", run_config]


def shell(command: list[str]) -> str:
    """The command as one copy-paste shell line (node configs in double quotes, as Flower's docs write them)."""
    def quote(arg: str) -> str:
        if shlex.quote(arg) == arg:
            return arg
        if not any(c in arg for c in '"$`\\'):
            return f'"{arg}"'
        return shlex.quote(arg)
    return " ".join(quote(arg) for arg in command)
