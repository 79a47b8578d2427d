"""``fedrec deploy local``: a real TLS-authenticated federation on loopback, run once, then torn down.

On 127.0.0.1, as separate processes, with the commands of ``deploy.commands`` (those of docs/deployment.md):
a SuperLink with TLS and SuperNode authentication; one SuperNode per partner, each with its own key, events
file and state directory; the app submitted with ``fedrec run``. The coordinator (SuperLink and the
ServerApp it starts) gets no partner data path: in this mode it builds the model from the declared schema.
Every process started runs under this federation's own ``FLWR_HOME`` and is stopped at the end, also on
failure, Ctrl-C or SIGTERM (``recmodel.processes.stop_processes``).

Layout under ``--out``::

    credentials/            fedrec deploy init's output (CA, SuperLink certificate, partner keys)
    flwr-home/              the coordinator's Flower config (connection "fedrec") and state
    coordinator/runs/run/   the run's artifacts (summary.json, report.md, model.pt, ...)
    sites/<partner>/        the partner's events.parquet and state/ (ledger, signing key)
    logs/                   superlink.log and one <partner>.log per SuperNode
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from deploy.commands import (connection_toml, list_supernodes_command, node_config, register_command, run_command,
                             superexec_command, superlink_command, supernode_command)
from deploy.credentials import Credentials, create_credentials
from recmodel.data.partition import assign_partners
from recmodel.data.schema import DataError, load_events, user_attribute_columns
from recmodel.data.synthetic import SyntheticSpec, generate_events
from recmodel.processes import free_port, processes_started_with, stop_processes

STARTUP_TIMEOUT_S = 90
RUN_NAME = "run"


class LocalFederationError(DataError):
    """A process of the loopback federation did not start (its log names why)."""


@dataclass
class LocalFederation:
    """One loopback federation's paths, ports and processes."""

    root: Path
    partners: tuple[str, ...]
    superlink_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.root / "credentials", self.partners)

    @property
    def flwr_home(self) -> Path:
        return self.root / "flwr-home"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.superlink_port}"

    @property
    def run_dir(self) -> Path:
        return self.root / "coordinator" / "runs" / RUN_NAME

    def site_dir(self, partner: str) -> Path:
        return self.root / "sites" / partner

    def data_path(self, partner: str) -> Path:
        return self.site_dir(partner) / "events.parquet"

    def state_dir(self, partner: str) -> Path:
        return self.site_dir(partner) / "state"

    @property
    def catalogue_path(self) -> Path:
        """The federation's declared item catalogue, the same file for every site."""
        return self.root / "catalogue.parquet"

    def env(self) -> dict[str, str]:
        """The environment of every process of this federation: its own Flower home marks them for teardown."""
        return dict(os.environ, FLWR_HOME=str(self.flwr_home), FLWR_DISABLE_UPDATE_CHECK="1",
                    FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1")

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = (self.root / "logs" / f"{name}.log").open("w")
        process = subprocess.Popen(resolved_command(command), env=env or self.env(), stdout=log, stderr=subprocess.STDOUT,
                                   cwd=self.root)
        self.processes[name] = process
        return process

    def stop(self) -> None:
        """Stop every process of this federation (found by its Flower home), SIGTERM then SIGKILL."""
        stop_processes(processes_started_with(self.flwr_home))
        for process in self.processes.values():
            process.poll()


def split_partner_data(federation: LocalFederation, source: Path | None, *, users: int, seed: int) -> tuple[str, ...]:
    """Write one events file per partner (users dealt at random); returns the data's user attribute columns."""
    if source is None:
        events = generate_events(SyntheticSpec(users=users, partners=len(federation.partners), seed=seed))
    else:
        events = load_events(source)
    write_declared_catalogue(events, federation.catalogue_path)
    assignment = assign_partners(events, by="user", partners=len(federation.partners), seed=seed)
    site = events["user_id"].map(assignment).to_numpy()
    for k, partner in enumerate(federation.partners):
        part = events[site == k].copy()
        part["partner_id"] = partner
        federation.site_dir(partner).mkdir(parents=True, exist_ok=True)
        part.to_parquet(federation.data_path(partner), index=False)
    return tuple(user_attribute_columns(events))


def write_declared_catalogue(events: pd.DataFrame, path: Path) -> None:
    """The federation's public item list (``catalogue-path``), from the source's items: item_id, and category and
    price where the source has them (one row per item, its first listing)."""
    columns = [c for c in ("item_id", "category", "price") if c in events.columns]
    items = events[columns].drop_duplicates("item_id").assign(item_id=lambda f: f["item_id"].astype(str))
    path.parent.mkdir(parents=True, exist_ok=True)
    items.sort_values("item_id").to_parquet(path, index=False)


def start_superlink(federation: LocalFederation, env: dict[str, str] | None = None) -> None:
    """The SuperLink with TLS and SuperNode auth; returns once its HTTPS health endpoint answers."""
    federation.flwr_home.mkdir(parents=True, exist_ok=True)
    (federation.root / "coordinator").mkdir(parents=True, exist_ok=True)
    (federation.flwr_home / "config.toml").write_text(
        connection_toml(federation.address, str(federation.credentials.ca_certificate)))
    creds = str(federation.credentials.root)
    process = federation.start("superlink", superlink_command(
        creds, host="127.0.0.1", port=federation.superlink_port,
        database=str(federation.root / "coordinator" / "state.db")), env)
    context = ssl.create_default_context(cafile=str(federation.credentials.ca_certificate))
    _wait(lambda: _healthy(f"https://{federation.address}/health", context), {"superlink": process},
          "the SuperLink", federation.root / "logs")


def register_partners(federation: LocalFederation) -> dict[str, int]:
    """Register each partner's public key at the SuperLink; returns partner -> node id."""
    node_ids = {}
    for partner in federation.partners:
        done = subprocess.run(resolved_command(register_command(str(federation.credentials.partner_public_key(partner)))),
                              env=federation.env(), capture_output=True, text=True, timeout=60)
        try:
            node_ids[partner] = int(json.loads(done.stdout)["node-id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise LocalFederationError(f"registering partner '{partner}' failed: "
                                       f"{(done.stdout + done.stderr).strip()[-500:]}")
    return node_ids


def declared_users(events_file: Path) -> int:
    """What this stand-in for a site's operator declares as ``expected-users``: its user count rounded up to two
    significant figures (a public figure of the kind a site publishes, e.g. 1,234 customers -> 1,300)."""
    users = int(pd.read_parquet(events_file, columns=["user_id"])["user_id"].nunique())
    scale = 10 ** max(0, len(str(users)) - 2)
    return max(1, -(-users // scale) * scale)


def start_supernode(federation: LocalFederation, partner: str, *, max_epsilon: float) -> subprocess.Popen:
    config = node_config(partner=partner, data_path=str(federation.data_path(partner)),
                         catalogue_path=str(federation.catalogue_path), state_dir=str(federation.state_dir(partner)),
                         max_epsilon=max_epsilon, expected_users=declared_users(federation.data_path(partner)))
    runtime_port = free_port()
    supernode = federation.start(partner, supernode_command(
        superlink=federation.address, partner_dir=str(federation.credentials.partner_dir(partner)),
        runtime_port=runtime_port, config=config))
    federation.start(f"{partner}-superexec", superexec_command(runtime_port=runtime_port, supernode_pid=supernode.pid))
    return supernode


def wait_until_online(federation: LocalFederation, node_ids: dict[str, int]) -> None:
    """Until every registered partner's SuperNode is online at the SuperLink."""
    def online() -> bool:
        listed = subprocess.run(resolved_command(list_supernodes_command()),
                                env=federation.env(), capture_output=True, text=True, timeout=60)
        try:
            status = {int(n["node-id"]): n["status"] for n in json.loads(listed.stdout)["nodes"]}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return False
        return all(status.get(node) == "online" for node in node_ids.values())
    _wait(online, federation.processes, "every SuperNode to connect", federation.root / "logs")


@contextlib.contextmanager
def running_federation(out: Path, partners: int, *, source: Path | None = None, users: int = 3000,
                       max_epsilon: float = 10.0, seed: int = 0, superlink_env: dict[str, str] | None = None):
    """Credentials, partner data, SuperLink and SuperNodes up and connected; yields (federation, attributes).

    Everything it started is stopped when the block ends, however it ends. ``superlink_env``: the coordinator
    processes' environment (default: ``federation.env()``).
    """
    if partners < 1:
        raise DataError("--partners must be at least 1")
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()):
        raise DataError(f"--out {out}: the directory is not empty; choose a new one")
    names = tuple(f"site-{k + 1}" for k in range(partners))
    federation = LocalFederation(out, names)
    (out / "logs").mkdir(parents=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        _step(f"credentials for {', '.join(names)} -> {federation.credentials.root}")
        create_credentials(federation.credentials.root, names, ("127.0.0.1", "localhost"), federation.address)
        _step("partner data: one events file per site")
        attributes = split_partner_data(federation, source, users=users, seed=seed)
        _step(f"SuperLink with TLS and SuperNode authentication on {federation.address}")
        start_superlink(federation, superlink_env)
        node_ids = register_partners(federation)
        _step(f"registered {len(node_ids)} SuperNode key(s); starting the SuperNodes")
        for partner in names:
            start_supernode(federation, partner, max_epsilon=max_epsilon)
        wait_until_online(federation, node_ids)
        yield federation, attributes
    finally:
        federation.stop()
        signal.signal(signal.SIGTERM, previous)
        _step(f"stopped the SuperLink and {len(names)} SuperNode(s); logs in {out / 'logs'}")


def deployment_run_config(federation: LocalFederation, attributes: tuple[str, ...], *, rounds: int,
                          item_buckets: int, max_epsilon: float, extra: str = "", min_partners: int = 0) -> str:
    """The run config the coordinator submits: the declared schema, outputs in --out, and every partner required
    unless ``min_partners`` says otherwise."""
    return (f"num-server-rounds={rounds} min-partners={min_partners or len(federation.partners)} "
            f"item-buckets={item_buckets} "
            f"user-attributes='{','.join(attributes)}' output-dir='{federation.root / 'coordinator' / 'runs'}' "
            f"run-name='{RUN_NAME}' max-epsilon={max_epsilon} {extra}").strip()


def run_local(partners: int, rounds: int, out: Path, *, source: Path | None = None, users: int = 3000,
              item_buckets: int = 4096, max_epsilon: float = 10.0, run_config: str = "", app: Path | None = None,
              seed: int = 0) -> int:
    """The whole demo; returns the exit status of the run (0: finished and completed, 130: interrupted)."""
    if rounds < 1:
        raise DataError("--rounds must be at least 1")
    app = (app or Path(__file__).resolve().parents[1]).resolve()
    try:
        with running_federation(out, partners, source=source, users=users, max_epsilon=max_epsilon,
                                seed=seed) as (federation, attributes):
            config = deployment_run_config(federation, attributes, rounds=rounds, item_buckets=item_buckets,
                                           max_epsilon=max_epsilon, extra=run_config)
            _step(f"fedrec run with {partners} partner(s), {rounds} round(s)")
            status = subprocess.run(resolved_command(run_command(str(app), config)), env=federation.env(),
                                    cwd=federation.root).returncode
            _report(federation, status)
            return status
    except KeyboardInterrupt:
        print("fedrec deploy local: interrupted; the federation was stopped", file=sys.stderr, flush=True)
        return 130


def _report(federation: LocalFederation, status: int) -> None:
    outcome = "finished" if status == 0 else f"FAILED (exit {status})"
    print(f"fedrec deploy local: the run {outcome}", flush=True)
    print(f"  coordinator's artifacts: {federation.run_dir}", flush=True)
    for partner in federation.partners:
        print(f"  {partner}'s ledger:      {federation.state_dir(partner) / 'ledger.jsonl'}", flush=True)
    print(f"  audit: fedrec audit {federation.run_dir} "
          + " ".join(f"--site {federation.state_dir(p)}" for p in federation.partners), flush=True)


def _step(line: str) -> None:
    print(f"fedrec deploy local: {line}", flush=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def resolved_command(command: list[str]) -> list[str]:
    """The command with its program from this Python's environment (flwr, fedrec, flower-*), if it is there."""
    program = Path(sys.executable).parent / command[0]
    return [str(program) if program.exists() else command[0], *command[1:]]


def _healthy(url: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _wait(ready, processes: dict[str, subprocess.Popen], what: str, logs: Path) -> None:
    """Until ``ready()``; fails at once, naming it and its log in ``logs``, when one of ``processes`` has exited
    (a SuperLink, SuperNode or SuperExec that dies at start-up would otherwise leave the run waiting)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not ready():
        for name, process in processes.items():
            if process.poll() is not None:
                raise LocalFederationError(f"waiting for {what}: {name} exited with status {process.returncode}; "
                                           f"see {logs / f'{name}.log'}")
        if time.monotonic() > deadline:
            raise LocalFederationError(f"waiting for {what}: not ready within {STARTUP_TIMEOUT_S} s; see {logs}")
        time.sleep(0.5)
