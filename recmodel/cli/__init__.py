"""The ``fedrec`` command line: ``audit``, ``data ...``, ``recommend``, ``profile``, ``site ...``.

Bad input ends with one line naming the file, line and problem (exit 2), not
a traceback.
"""

from __future__ import annotations

import argparse
import sys

from recmodel.cli import audit, data, serve, site
from recmodel.config import ConfigError
from recmodel.data.schema import DataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fedrec", description="fedrec: federated DP recommendation tools")
    commands = parser.add_subparsers(dest="command", required=True)
    audit.register(commands)
    data.register(commands)
    serve.register(commands)
    site.register(commands)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (DataError, ConfigError) as error:
        print(f"fedrec: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
