"""Random faults against real simulated federations: no hang, no traceback, no lost or lowered ledger entry.

    python -m simulations.chaos --faults 20 --seed 0 --work-dir chaos

Each case is a real ``fedrec run`` of this app (a small synthetic federation, 2 partners, its own Flower home
and ports) into which one fault is injected at a random point after a random round:

| fault | injected | expected |
|---|---|---|
| ``kill-superlink`` | SIGKILL to the SuperLink | the command ends (no hang) with a non-zero status |
| ``kill-serverapp`` | SIGKILL to the simulation process (ServerApp and partners) | the command ends with a non-zero status |
| ``interrupt`` | Ctrl-C (SIGINT to the command's process group) | exit 130; the run is stopped on the SuperLink |
| ``rogue-partner`` | partner 1 adds 1e3 to its update and reports 1e12 steps and examples | exit 0, ``degraded``, model unharmed |
| ``partial-ledger-line`` | Ctrl-C, then half a ledger line at partner 0 (a full disk), then resume | partner 0 refuses and is left out (``degraded``); the audit names its incomplete line |

After every case: the command must have ended within ``--deadline`` seconds of the fault, its console holds no
Python traceback, every process of the case's Flower home is stopped, and ``fedrec audit`` of the run passes,
or fails only for the named reason. One JSON line per case goes to ``<work-dir>/chaos.jsonl`` as it finishes;
the exit status is 0 only when every case held.
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

from recmodel.cli.arguments import positive_int
from recmodel.processes import processes_started_with, stop_processes
from simulations.local_superlink import private_flower_env

REPO = Path(__file__).resolve().parents[1]
FEDREC = str(Path(sys.executable).parent / "fedrec")
FAULTS = ("kill-superlink", "kill-serverapp", "interrupt", "rogue-partner", "partial-ledger-line")
TINY = ("synthetic-users=300 synthetic-items=80 synthetic-categories=6 batch-size=16 item-buckets=256 "
        "profiles=false")
ROUNDS = 4
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
    home = folder / "flwr-home"
    env = private_flower_env(home)
    started = time.monotonic()
    problems: list[str] = []
    status = None
    try:
        status, console = _inject(fault, after_round, folder, env, deadline_s, problems)
        _check(fault, folder / "runs" / "case", status, console, problems)
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
        app = folder / "app"
        app.mkdir()
        pyproject = (REPO / "pyproject.toml").read_text()
        (app / "pyproject.toml").write_text(pyproject.replace('clientapp = "client.app:app"',
                                                              'clientapp = "rogue_client:app"'))
        (app / "rogue_client.py").write_text(rogue_client(LIE))
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
    deadline = time.monotonic() + deadline_s
    metrics = run_dir / "metrics.jsonl"
    while time.monotonic() < deadline and process.poll() is None:
        if metrics.is_file() and metrics.read_text().count("\n") >= rows:
            return True
        time.sleep(0.1)
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
        try:
            if name in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def _check(fault: str, run_dir: Path, status: int | None, console: str, problems: list[str]) -> None:
    if re.search(r"^Traceback \(most recent call last\)", console, re.M):
        problems.append("a Python traceback on the console")
    expected = {"kill-superlink": "non-zero", "kill-serverapp": "non-zero", "interrupt": 130, "rogue-partner": 0,
                "partial-ledger-line": 0}[fault]
    if status is not None and (status == 0 if expected == "non-zero" else status != expected):
        problems.append(f"exit status {status}, expected {expected}")
    summary = _json(run_dir / "summary.json")
    if fault == "rogue-partner" and summary.get("status") != "degraded":
        problems.append(f"summary status {summary.get('status')!r}, expected 'degraded'")
    if fault == "partial-ledger-line" and "partner-0" not in (summary.get("left_out") or {}):
        problems.append("partner-0 (its ledger ends in half a line) was not left out of the resumed run")
    if not (run_dir / "partners").is_dir():
        return  # killed before any release: nothing to audit
    audit = subprocess.run([FEDREC, "audit", str(run_dir), "--json"], capture_output=True, text=True, timeout=600)
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


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--faults", type=positive_int, default=20, help="number of random cases (default 20)")
    cli.add_argument("--seed", type=int, default=0, help="which faults, after which rounds (default 0)")
    cli.add_argument("--only", choices=FAULTS, action="append", help="draw only these faults (repeatable)")
    cli.add_argument("--deadline", type=float, default=120.0,
                     help="seconds a command may run on after its fault before it counts as a hang (default 120)")
    cli.add_argument("--work-dir", type=Path, default=Path("chaos"), help="cases and chaos.jsonl (default ./chaos)")
    args = cli.parse_args()
    rng = random.Random(args.seed)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    log = args.work_dir / "chaos.jsonl"
    held, started = 0, time.monotonic()
    for number in range(1, args.faults + 1):
        fault = rng.choice(args.only or FAULTS)
        result = run_case(number, fault, rng.randint(1, ROUNDS - 2), args.work_dir, args.deadline)
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
