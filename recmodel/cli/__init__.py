"""The ``fedrec`` command line: ``fedrec audit PATH`` (more subcommands to come)."""

from __future__ import annotations

import argparse
import sys

from recmodel.cli import audit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fedrec", description="fedrec: federated DP recommendation tools")
    commands = parser.add_subparsers(dest="command", required=True)
    audit.register(commands)
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
