"""Random faults against real simulated federations: no hang, no traceback, no lost or lowered ledger entry.

    python -m simulations.chaos --faults 20 --seed 0 --work-dir chaos

Each case is a real run of this app (a small synthetic federation, 2 partners, its own Flower home and ports):
a simulation (``fedrec run``), or for ``kill-supernode`` a TLS loopback deployment (``fedrec deploy local``'s
SuperLink and one SuperNode per partner). One fault is injected at a random point after a random round:

| fault | injected | expected |
|---|---|---|
| ``kill-superlink`` | SIGKILL to the SuperLink | the command ends (no hang) with a non-zero status |
| ``kill-serverapp`` | SIGKILL to the simulation process (ServerApp and partners) | the command ends with a non-zero status |
| ``interrupt`` | Ctrl-C (SIGINT to the command's process group) | exit 130; the run is stopped on the SuperLink |
| ``rogue-partner`` | partner 1 adds 1e3 to its update and reports 1e12 steps and examples | exit 0, ``degraded``, model unharmed |
| ``partial-ledger-line`` | Ctrl-C, then half a ledger line at partner 0 (a full disk), then resume | partner 0 refuses and is left out (``degraded``); the audit names its incomplete line |
| ``disk-full`` | partner 0's state directory (a tmpfs of its own) is filled to the last byte | partner 0 refuses from then on (``degraded``); not one of its ledger entries is lost |
| ``kill-supernode`` | SIGKILL to partner 2's SuperNode in a deployment (``min-partners=1``) | exit 0, ``degraded``; the other partner trains every round |

A deployment case takes about 4 times a simulated one, so at most one case in 10 is drawn as one.

``disk-full`` needs the right to mount a tmpfs (root in a container here); where that is refused, the case
says so and counts as not held.

After every case: the command must have ended within ``--deadline`` seconds of the fault, its console holds no
Python traceback, every process of the case's Flower home (SuperLink, simulation, Ray) has ended by itself
within 120 s of the command, and ``fedrec audit`` of the run passes, or fails only for the named reason. One
JSON line per case goes to ``<work-dir>/chaos.jsonl`` as it finishes; the exit status is 0 only when every case
held.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from deploy.commands import run_command
from deploy.local_federation import deployment_run_config, resolved_command, running_federation
from recmodel.cli.arguments import positive_int
from recmodel.processes import command_line, processes_started_with, stop_processes
from simulations.client_variant import app_with_client
from simulations.full_disk import fill, tmpfs
from simulations.local_superlink import private_flower_env

REPO = Path(__file__).resolve().parents[1]
FEDREC = str(Path(sys.executable).parent / "fedrec")
FAULTS = ("kill-superlink", "kill-serverapp", "interrupt", "rogue-partner", "partial-ledger-line", "disk-full",
          "kill-supernode")
EXIT_STATUS = {"kill-superlink": "non-zero", "kill-serverapp": "non-zero", "interrupt": 130, "rogue-partner": 0,
               "partial-ledger-line": 0, "disk-full": 0, "kill-supernode": 0}
DEGRADED = {"rogue-partner": None, "partial-ledger-line": "partner-0", "disk-full": "partner-0",
            "kill-supernode": "site-2"}  # fault -> the partner it must leave out (None: its update is rejected)
TINY = ("synthetic-users=300 synthetic-items=80 synthetic-categories=6 batch-size=16 item-buckets=256 "
        "profiles=false")
ROUNDS = 4
LEFT_RUNNING_GRACE_S = 120  # after the command: its SuperLink, simulation and Ray processes end within this
ROGUE_CLIENT = '''
"""fedrec's own ClientApp, except that partner 1 poisons every update it sends (simulations.chaos)."""
from flwr.app import ArrayRecord
from flwr.clientapp import ClientApp

from client.app import evaluate, query, train as honest_train

app = ClientApp()
app.evaluate()(evaluate)
app.query()(query)


@app.train()
def train(msg, context):
    reply = honest_train(msg, context)
    if int(context.node_config["partition-id"]) == 1 and not reply.has_error() and "arrays" in reply.content:
        state = reply.content["arrays"].to_torch_state_dict()
POISON
    return reply
'''
LIE = '''        reply.content["arrays"] = ArrayRecord({k: v + 1e3 if v.is_floating_point() else v for k, v in state.items()})
        for key in ("steps", "num-examples"):
            reply.content["metrics"][key] = 1e12'''  # 1e3 on every weight; 1e12 steps and examples reported
NAN = '''        state["dlrm.over_arch.mlp.0.bias"][0] = float("nan")
        reply.content["arrays"] = ArrayRecord(state)'''  # NaN in one array of every update


def rogue_client(poison: str) -> str:
    """The text of a ClientApp module whose partner 1 applies ``poison`` (``LIE``, ``NAN``) to its updates."""
    return ROGUE_CLIENT.replace("POISON", poison)


@dataclass
class CaseResult:
    case: int
    fault: str
    after_round: int
    ok: bool
    seconds: float
    exit_status: int | None
    detail: str


def run_case(number: int, fault: str, after_round: int, work: Path, deadline_s: float) -> CaseResult:
    """One federation, one fault; returns whether every expectation held, and what did not."""
    folder = work / f"case-{number:02d}-{fault}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    home = folder / "federation" / "flwr-home" if fault == "kill-supernode" else folder / "flwr-home"
    env = private_flower_env(home)
    started = time.monotonic()
    problems: list[str] = []
    status = None
    try:
        if fault == "kill-supernode":
            status, console = _deployment_case(after_round, folder, deadline_s, problems)
        elif fault == "disk-full":
            status, console = _disk_full_case(after_round, folder, env, deadline_s, problems)
        else:
            status, console = _inject(fault, after_round, folder, env, deadline_s, problems)
            _check(fault, folder / "runs" / "case", status, console, problems)
        (folder / "console.log").write_text(console)
        if left := _running_after(home, LEFT_RUNNING_GRACE_S):
            problems.append(f"{len(left)} process(es) of the case still running {LEFT_RUNNING_GRACE_S} s after the "
                            f"command ended: {', '.join(left)[:300]}")
    finally:
        stop_processes(processes_started_with(home))
    if processes_started_with(home):
        problems.append("processes of the case were still running after it")
    return CaseResult(number, fault, after_round, not problems, round(time.monotonic() - started, 1), status,
                      "; ".join(problems) or "held")


def _inject(fault: str, after_round: int, folder: Path, env: dict, deadline_s: float,
            problems: list[str]) -> tuple[int | None, str]:
    app = REPO
    if fault == "rogue-partner":
        app = app_with_client(folder / "app", "rogue_client", rogue_client(LIE))
    run_dir = folder / "runs" / "case"
    config = f"num-server-rounds={ROUNDS} {TINY} output-dir='{folder / 'runs'}' run-name='case'"
    process = _start(app, config, folder, env)
    if fault == "rogue-partner":
        return _finish(process, deadline_s * 3, problems)
    if not _wait_for_rounds(run_dir, after_round + 1, process, deadline_s * 3):
        problems.append(f"round {after_round} was never written")
        return _finish(process, deadline_s, problems)
    if fault == "kill-superlink":
        _kill_matching(env["FLWR_HOME"], b"flower-superlink")
    elif fault == "kill-serverapp":
        _kill_matching(env["FLWR_HOME"], b"flwr-simulation")
    else:  # interrupt, and the first half of partial-ledger-line
        os.killpg(process.pid, signal.SIGINT)
    status, console = _finish(process, deadline_s, problems)
    if fault != "partial-ledger-line":
        return status, console
    ledger = run_dir / "partners" / "partner-0" / "ledger.jsonl"
    with ledger.open("a") as handle:  # an append cut short by a full disk
        handle.write('{"run_id": "case", "round": 9, "mod')
    resumed = _start(REPO, f"{config} resume-from='{run_dir}'", folder, env)
    status, more = _finish(resumed, deadline_s * 3, problems)
    return status, console + more


def _disk_full_case(after_round: int, folder: Path, env: dict, deadline_s: float,
                    problems: list[str]) -> tuple[int | None, str]:
    """Partner 0's state directory on a 16 MiB tmpfs, mounted before the site's first write, filled after
    ``after_round``; its ledger must keep every entry it held at the fault."""
    run_dir = folder / "runs" / "case"
    state = run_dir / "partners" / "partner-0"
    process = _start(REPO, f"num-server-rounds={ROUNDS} {TINY} output-dir='{folder / 'runs'}' run-name='case'",
                     folder, env)
    if not _wait_for(lambda: run_dir.is_dir(), process, deadline_s):
        problems.append("the run directory was never created")
        return _finish(process, deadline_s, problems)
    try:
        state.mkdir(parents=True)  # before the site's pre-flight, which creates it otherwise
    except FileExistsError:
        problems.append("setup: the site created its state directory before the tmpfs could be mounted")
        return _finish(process, deadline_s, problems)
    with tmpfs(state, "16m") as mounted:
        if not mounted:
            problems.append("setup: could not mount a tmpfs (needs CAP_SYS_ADMIN)")
            return _finish(process, deadline_s, problems)
        if not _wait_for_rounds(run_dir, after_round + 1, process, deadline_s * 3):
            problems.append(f"round {after_round} was never written")
            return _finish(process, deadline_s, problems)
        entries_before = _lines(state / "ledger.jsonl")
        fill(state)
        status, console = _finish(process, deadline_s * 3, problems)
        if _lines(state / "ledger.jsonl") < entries_before:
            problems.append(f"partner-0's ledger lost entries: {entries_before} before the disk filled, "
                            f"{_lines(state / 'ledger.jsonl')} after")
        (state / "filler").unlink()
        _check("disk-full", run_dir, status, console, problems)
        shutil.copytree(state, folder / "partner-0-state")  # the tmpfs goes with the case; its files stay
    shutil.copytree(folder / "partner-0-state", state, dirs_exist_ok=True)
    shutil.rmtree(folder / "partner-0-state")
    return status, console


def _lines(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text().splitlines() if line.strip())
    except OSError:
        return 0


def _deployment_case(after_round: int, folder: Path, deadline_s: float,
                     problems: list[str]) -> tuple[int | None, str]:
    """A 2-partner TLS deployment on loopback (its own Flower home, folder/federation/flwr-home); partner
    site-2's SuperNode is killed after ``after_round``."""
    with running_federation(folder / "federation", 2, users=300, max_epsilon=10.0) as (federation, attributes):
        config = deployment_run_config(federation, attributes, rounds=ROUNDS, item_buckets=256, max_epsilon=10.0,
                                       min_partners=1, extra="local-epochs=1 profiles=false popularity-prior=false")
        process = subprocess.Popen(resolved_command(run_command(str(REPO), config)), env=federation.env(),
                                   cwd=federation.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True, preexec_fn=ctrl_c_enabled)
        if _wait_for_rounds(federation.run_dir, after_round + 1, process, deadline_s * 3):
            federation.processes["site-2"].kill()
        else:
            problems.append(f"round {after_round} was never written")
        status, console = _finish(process, deadline_s * 3, problems)
    sites = [arg for partner in federation.partners for arg in ("--site", str(federation.state_dir(partner)))]
    _check("kill-supernode", federation.run_dir, status, console, problems, audit_args=sites)
    return status, console


def _running_after(home: Path, grace_s: float) -> list[str]:
    """Command lines of the processes of ``home`` still running ``grace_s`` seconds from now (none left: [] at
    once): after the command ends, its SuperLink, simulation and Ray processes must end by themselves."""
    deadline = time.monotonic() + grace_s
    while (left := processes_started_with(home)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [command.replace(b"\0", b" ").decode(errors="replace")[:80]
            for command in map(command_line, left) if command]  # b"": ended just now


def _start(app: Path, config: str, folder: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([FEDREC, "run", str(app), "--run-config", config, "--federation-config",
                             "num-supernodes=2"], cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, preexec_fn=ctrl_c_enabled)


def ctrl_c_enabled() -> None:
    """In the child before exec: Ctrl-C (SIGINT) back to its default, which a shell's background job ignores
    (Python then raises KeyboardInterrupt on it, as in a terminal)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_rounds(run_dir: Path, rows: int, process: subprocess.Popen, deadline_s: float) -> bool:
    """True once metrics.jsonl holds ``rows`` rows (round 0 included) while the command still runs."""
    metrics = run_dir / "metrics.jsonl"
    return _wait_for(lambda: metrics.is_file() and metrics.read_text().count("\n") >= rows, process, deadline_s)


def _wait_for(condition, process: subprocess.Popen, deadline_s: float) -> bool:
    """True once ``condition()`` holds while the command still runs (polled every 20 ms)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _finish(process: subprocess.Popen, deadline_s: float, problems: list[str]) -> tuple[int | None, str]:
    """The command's exit status and console; a command still running after ``deadline_s`` is a hang."""
    try:
        console, _ = process.communicate(timeout=deadline_s)
        return process.returncode, console
    except subprocess.TimeoutExpired:
        problems.append(f"HANG: the command was still running {deadline_s:.0f} s after the fault")
        os.killpg(process.pid, signal.SIGKILL)
        console, _ = process.communicate()
        return None, console


def _kill_matching(flwr_home: str, name: bytes) -> None:
    for pid in processes_started_with(Path(flwr_home)):
        if name in command_line(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:  # ended just now
                continue


def _check(fault: str, run_dir: Path, status: int | None, console: str, problems: list[str],
           audit_args: tuple[str, ...] | list[str] = ()) -> None:
    if re.search(r"^Traceback \(most recent call last\)", console, re.M):
        problems.append("a Python traceback on the console")
    expected = EXIT_STATUS[fault]
    if status is not None and (status == 0 if expected == "non-zero" else status != expected):
        problems.append(f"exit status {status}, expected {expected}")
    summary = _json(run_dir / "summary.json")
    if fault in DEGRADED and summary.get("status") != "degraded":
        problems.append(f"summary status {summary.get('status')!r}, expected 'degraded'")
    missing = DEGRADED.get(fault)
    if missing and not any(missing in names for names in (summary.get("partner_failures") or {}).values()) \
            and missing not in (summary.get("left_out") or {}):
        problems.append(f"{missing} was neither a failure of a round nor left out in summary.json")
    if not (run_dir / "partners").is_dir() and not audit_args:
        return  # killed before any release: nothing to audit
    audit = subprocess.run([FEDREC, "audit", str(run_dir), "--json", *audit_args], capture_output=True, text=True,
                           timeout=600)
    failing = {}  # partner -> its problems, for every ledger that fails
    for ledger in _json_text(audit.stdout).get("ledgers", []):
        if not ledger.get("ok", False):
            found = list(ledger.get("problems", [])) + [p for e in ledger.get("entries", []) for p in e["problems"]]
            failing[str(ledger.get("partner"))] = " | ".join(found)
    if fault == "partial-ledger-line":  # exactly partner-0's damaged line may fail, and must
        if "not valid JSON" not in failing.pop("partner-0", ""):
            problems.append("the audit did not name partner-0's incomplete ledger line")
    if failing:
        problems.append("audit FAIL: " + "; ".join(f"{name}: {why}" for name, why in failing.items())[:500])


def _json_text(text: str) -> dict:
    try:
        return json.loads(text)
    except ValueError:
        return {}


def _json(path: Path) -> dict:
    try:
        return _json_text(path.read_text())
    except OSError:
        return {}


def draw_cases(count: int, seed: int, faults=FAULTS) -> list[tuple[str, int]]:
    """``count`` (fault, after round) pairs in random order: every fault once when ``count`` allows, the rest
    uniform over ``faults``, except that a deployment case (about 4x a simulated one) is drawn at most once in
    every 10 cases unless it is the only fault asked for."""
    rng = random.Random(seed)
    deployments_left = count if set(faults) == {"kill-supernode"} else max(1, count // 10)
    drawn = list(faults) if count >= len(faults) else []
    cases = []
    while len(cases) < count:
        fault = drawn.pop() if drawn else rng.choice(faults)
        if fault == "kill-supernode":
            if not deployments_left:
                continue
            deployments_left -= 1
        cases.append((fault, rng.randint(1, ROUNDS - 2)))
    rng.shuffle(cases)
    return cases


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--faults", type=positive_int, default=20, help="number of random cases (default 20)")
    cli.add_argument("--seed", type=int, default=0, help="which faults, after which rounds (default 0)")
    cli.add_argument("--only", choices=FAULTS, action="append", help="draw only these faults (repeatable)")
    cli.add_argument("--deadline", type=float, default=120.0,
                     help="seconds a command may run on after its fault before it counts as a hang (default 120)")
    cli.add_argument("--work-dir", type=Path, default=Path("chaos"), help="cases and chaos.jsonl (default ./chaos)")
    args = cli.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    log = args.work_dir / "chaos.jsonl"
    held, started = 0, time.monotonic()
    for number, (fault, after_round) in enumerate(draw_cases(args.faults, args.seed, args.only or FAULTS), 1):
        result = run_case(number, fault, after_round, args.work_dir, args.deadline)
        held += result.ok
        with log.open("a") as handle:
            handle.write(json.dumps(asdict(result)) + "\n")
        print(f"case {number}/{args.faults}: {fault} after round {result.after_round}: "
              f"{'held' if result.ok else 'FAILED'} in {result.seconds:.0f} s (exit {result.exit_status})"
              + ("" if result.ok else f": {result.detail}"), flush=True)
    print(f"chaos: {held}/{args.faults} cases held in {time.monotonic() - started:.0f} s; details in {log}")
    return 0 if held == args.faults else 1


if __name__ == "__main__":
    sys.exit(main())
