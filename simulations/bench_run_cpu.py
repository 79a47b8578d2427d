"""Where one run's CPU goes: CPU seconds per program over every process of a ``fedrec run``.

    python -m simulations.bench_run_cpu [--run-config "num-server-rounds=2 synthetic-users=160 ..."]
                                        [--partners 2] [--work-dir sweeps/bench-run-cpu] [--json]

Runs ``fedrec run`` of this app with a Flower home and ports of its own (``simulations.local_superlink``) and
samples ``/proc/<pid>/stat`` of every process whose environment holds that home (the ``flwr`` commands, the
SuperLink, the simulation process with the ServerApp, Ray's processes and its ClientApp actors) every 0.2 s,
keeping each process's last reading. Prints the CPU seconds (user + system) per program, largest first, the
total and the wall time. A process that lives less than 0.2 s may be missed; its CPU is then not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from recmodel.processes import command_line, processes_started_with, stop_processes
from simulations.local_superlink import private_flower_env

REPO = Path(__file__).resolve().parents[1]
TINY_RUN = ("num-server-rounds=2 synthetic-users=160 synthetic-items=80 synthetic-categories=6 batch-size=16 "
            "item-buckets=256")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def program_of(cmdline: bytes) -> str:
    """A process's program as people name it: Ray's actors by their title (``ray::ClientAppActor``), Python
    entry points by their script (``flwr-simulation``), anything else by its executable."""
    words = [w.decode(errors="replace") for w in cmdline.split(b"\0") if w]
    if not words:
        return "?"
    if words[0].startswith("ray::"):
        return words[0].split()[0]
    first = Path(words[0]).name
    if first.startswith("python") and len(words) > 1 and not words[1].startswith("-"):
        return Path(words[1]).name
    return first


def cpu_seconds(pid: int) -> tuple[str, float] | None:
    """(program, user + system CPU seconds so far) of ``pid``; None once it has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return program_of(command_line(pid)), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return None


def profile(command: list[str], env: dict, home: Path, cwd: Path, interval_s: float = 0.2) -> dict:
    """Run ``command``; {"wall_s", "exit_status", "cpu_s": {program: CPU seconds}} over the processes of
    ``home`` (the command's own process included)."""
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last: dict[int, tuple[str, float]] = {}
    while True:
        for pid in [process.pid, *processes_started_with(home)]:
            if (reading := cpu_seconds(pid)) is not None:
                program, seconds = reading
                if program == "?" and pid in last:  # ended since the last reading: its command line is empty now
                    program = last[pid][0]
                last[pid] = (program, seconds)
        if process.poll() is not None:
            break
        time.sleep(interval_s)
    by_program: dict[str, float] = {}
    for program, seconds in last.values():
        by_program[program] = by_program.get(program, 0.0) + seconds
    return {"wall_s": round(time.monotonic() - started, 1), "exit_status": process.returncode,
            "cpu_s": dict(sorted(((p, round(s, 1)) for p, s in by_program.items()), key=lambda kv: -kv[1]))}


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m simulations.bench_run_cpu", description=__doc__.splitlines()[0])
    cli.add_argument("--run-config", default=TINY_RUN, help=f'run-config overrides (default "{TINY_RUN}")')
    cli.add_argument("--partners", type=int, default=2, help="simulated partners (default 2)")
    cli.add_argument("--work-dir", type=Path, default=Path("sweeps/bench-run-cpu"), help="runs and Flower home")
    cli.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = cli.parse_args(argv)
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    home = work / "flwr-home"
    command = [str(Path(sys.executable).parent / "fedrec"), "run", str(REPO), "--run-config",
               f"{args.run_config} output-dir='{work / 'runs'}'", "--federation-config",
               f"num-supernodes={args.partners}"]
    try:
        result = profile(command, private_flower_env(home), home, work)
    finally:
        stop_processes(processes_started_with(home))
    if args.json:
        print(json.dumps(result))
    else:
        for program, seconds in result["cpu_s"].items():
            print(f"{seconds:8.1f} CPU-s  {program}")
        print(f"{sum(result['cpu_s'].values()):8.1f} CPU-s  total; wall {result['wall_s']} s, "
              f"exit status {result['exit_status']}")
    return 0 if result["exit_status"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
