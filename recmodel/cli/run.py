"""fedrec run [APP] [SUPERLINK] [--run-config ...] [--federation-config ...]: flwr run, with an honest exit status.

``flwr run --stream`` exits 0 even when the ServerApp fails. This wrapper runs
it, streams its output, then asks the SuperLink for the run's final status
(``flwr ls --run-id``) and exits 0 only for ``finished:completed``; a failed
or stopped run (for fedrec: a round with fewer than ``min-partners``
successful partners, a bad configuration, a crash) exits 1. It sets
``FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1`` unless the environment
sets it, so the local SuperLink runs the app in the current environment.
A local app directory is handed to flwr as a staged copy of its FAB files
(``deploy.staged_app``): the same FAB, without Flower resolving every file of
a virtual environment inside the directory first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

RUN_ID = re.compile(r"run_id `?(\d+)`?")
FLOWER_DEFAULT_NODES = "default simulated SuperNodes changed from 10 to 2"


def register(commands) -> None:
    run = commands.add_parser("run", help="flwr run --stream, exiting non-zero when the run fails",
                              description=__doc__)
    run.add_argument("app", nargs="?", default=".", help="the Flower app directory (default: .)")
    run.add_argument("superlink", nargs="?", help="SuperLink connection name (default: flwr's default)")
    run.add_argument("--run-config", help='overrides of [tool.flwr.app.config], e.g. "num-server-rounds=3"')
    run.add_argument("--federation-config", help='e.g. "num-supernodes=5" (simulation)')
    run.add_argument("--keep-superlink", action="store_true",
                     help="keep the local SuperLink running if this command started it (default: stop it)")
    run.set_defaults(handler=run_flwr)


def run_flwr(args) -> int:
    from deploy.staged_app import staged_app
    from recmodel.cli.run_config_keys import check_run_config
    from recmodel.errors import DataError

    check_run_config(args.run_config, args.app)
    flwr = shutil.which("flwr", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if flwr is None:
        raise DataError("the flwr command is not installed in this environment (pip install -e .)")
    env = dict(os.environ)
    env.setdefault("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION", "1")
    # flwr starts flower-superlink by name: find it beside this Python even when the venv is not activated
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    with staged_app(Path(args.app)) as app:
        return _run_flwr(flwr, env, [str(app)] + ([args.superlink] if args.superlink else []), args)


def _run_flwr(flwr: str, env: dict, target: list[str], args) -> int:
    from recmodel.cli.local_superlink import STOP_GRACE_SECONDS, flwr_home, local_superlinks
    from recmodel.processes import stop_processes

    command = [flwr, "run", *target, "--stream"]
    if args.run_config:
        command += ["--run-config", args.run_config]
    if args.federation_config:
        command += ["--federation-config", args.federation_config]
    home = flwr_home()
    running_before = local_superlinks(home)
    started: dict = {}  # {"run_id": ...} once flwr names it
    try:
        return _run_and_check(flwr, command, target, env, started)
    except KeyboardInterrupt:  # stop the run itself, not only this command (flwr run --stream leaves it running)
        if "run_id" in started:
            subprocess.run([flwr, "stop", str(started["run_id"]), *target[1:]], env=env, capture_output=True,
                           timeout=60)
            print(f"fedrec: interrupted; run {started['run_id']} was stopped on the SuperLink. What it finished is in "
                  "its run directory (checkpoint after every round: continue with --run-config "
                  "\"resume-from='<run-dir>'\")", file=sys.stderr)
        else:
            print("fedrec: interrupted before the run started; nothing was kept", file=sys.stderr)
        return 130
    finally:
        started = local_superlinks(home) - running_before
        if started and not args.keep_superlink:
            stopped = stop_processes(started, grace_s=STOP_GRACE_SECONDS)
            print(f"fedrec: stopped the local SuperLink this command started (pid {', '.join(map(str, stopped))}); "
                  "--keep-superlink keeps it", file=sys.stderr)


def _run_and_check(flwr: str, command: list[str], target: list[str], env: dict, started: dict) -> int:
    """Stream ``flwr run``; 0 only when the SuperLink reports the run ``finished:completed`` (``started`` gets
    the run id as soon as flwr prints it)."""
    run_id = None
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1) as process:
        for line in process.stdout:
            if FLOWER_DEFAULT_NODES in line:  # Flower's notice, printed even when the command sets the number
                line = "" if "--federation-config" in command else (
                    "fedrec: simulating Flower's default number of partners (2); "
                    '--federation-config "num-supernodes=N" sets it\n')
            sys.stdout.write(line)
            if run_id is None and (match := RUN_ID.search(line)):
                run_id = started["run_id"] = int(match.group(1))
    if process.returncode != 0:
        print(f"fedrec: error: flwr run exited with status {process.returncode}", file=sys.stderr)
        return process.returncode
    if run_id is None:
        print("fedrec: error: flwr run printed no run id; the run's outcome is unknown", file=sys.stderr)
        return 1
    status = final_status(flwr, run_id, target[1:], env)
    if status != "finished:completed":
        print(f"fedrec: error: run {run_id} ended with status {status}", file=sys.stderr)
        return 1
    return 0


def final_status(flwr: str, run_id: int, superlink: list[str], env: dict) -> str:
    """The SuperLink's status of ``run_id`` (e.g. ``finished:completed``, ``finished:failed``)."""
    listed = subprocess.run([flwr, "ls", *superlink, "--run-id", str(run_id), "--format", "json"], env=env,
                            capture_output=True, text=True)
    try:
        runs = json.loads(listed.stdout)["runs"]
        return str(runs[0]["status"])
    except (json.JSONDecodeError, KeyError, IndexError, TypeError):
        return f"unknown ({(listed.stdout + listed.stderr).strip()[:200]})"
