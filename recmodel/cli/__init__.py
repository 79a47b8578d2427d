"""The ``fedrec`` command line: ``run``, ``audit``, ``data ...``, ``recommend``, ``audience``, ``profile``, ``serve``,
``site ...``, ``deploy ...``.

Expected failures (bad input, missing or unreadable files, permissions, bad
arguments) end with one line naming the file and problem, exit 2. Anything
else is a bug: its traceback is printed, then one line saying so, exit 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from deploy import cli as deploy
from recmodel.cli import audit, data, exports, run, serve, site
from recmodel.cli.run_config_keys import flag_hint
from recmodel.config import ConfigError
from recmodel.errors import DataError


def build_parser() -> argparse.ArgumentParser:
    """The ``fedrec`` argument parser with every command registered."""
    parser = argparse.ArgumentParser(prog="fedrec", description="fedrec: federated DP recommendation tools")
    commands = parser.add_subparsers(dest="command", required=True)
    run.register(commands)
    audit.register(commands)
    data.register(commands)
    exports.register(commands)
    serve.register(commands)
    site.register(commands)
    deploy.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        hint = flag_hint(unknown) if args.command == "run" else None
        if hint is None:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        print(f"fedrec: error: {hint}", file=sys.stderr)
        return 2
    try:
        return int(args.handler(args) or 0)
    except BrokenPipeError:  # the reader went away (e.g. `fedrec audit --json | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (DataError, ConfigError) as error:
        print(f"fedrec: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # missing, unreadable or unwritable files
        where = f": {error.filename}" if error.filename else ""
        print(f"fedrec: error: {error.strerror or error}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fedrec: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print("fedrec: internal error (a bug in fedrec, not in your input): please report the traceback above",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
