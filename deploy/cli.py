"""``fedrec deploy init`` (credentials for a real federation) and ``fedrec deploy local`` (the loopback demo)."""

from __future__ import annotations

from pathlib import Path

from recmodel.cli.arguments import positive_int


def register(commands) -> None:
    deploy = commands.add_parser("deploy", help="credentials for a deployed federation; a loopback federation demo",
                                 description="See docs/deployment.md for the coordinator's and partners' steps.")
    sub = deploy.add_subparsers(dest="deploy_command", required=True)
    init = sub.add_parser("init", help="a CA, the SuperLink's TLS certificate and one SuperNode key pair per partner",
                          description="Write a new CA, the SuperLink's TLS certificate and one SuperNode key pair "
                                      "per partner into a new directory (docs/deployment.md).")
    init.add_argument("--partners", required=True, help="partner names, comma-separated, e.g. shop-a,shop-b")
    init.add_argument("--superlink-host", required=True, action="append",
                      help="a host name or IP address the SuperLink's certificate is valid for (repeatable)")
    init.add_argument("--superlink-port", type=int, default=9092,
                      help="the port partners connect to, for their hand-over notes (default: 9092)")
    init.add_argument("--out", required=True, help="a new directory for the credentials")
    init.set_defaults(handler=run_init)

    local = sub.add_parser("local", help="a TLS-authenticated SuperLink and N SuperNodes on loopback: run, then "
                                         "tear down",
                           description="Start a TLS-authenticated SuperLink and N SuperNodes on loopback, run the "
                                       "app, print the audit command for its ledgers, tear everything down; exit 0 when the run "
                                       "finished.")
    local.add_argument("--partners", type=positive_int, default=3, help="number of partner sites (default: 3)")
    local.add_argument("--rounds", type=positive_int, default=2, help="federated rounds (default: 2)")
    local.add_argument("--data", help="an events file to split over the partners (default: the synthetic generator)")
    local.add_argument("--users", type=positive_int, default=3000,
                       help="synthetic users over all partners (default: 3000)")
    local.add_argument("--item-buckets", type=positive_int, default=4096,
                       help="rows item ids are hashed into (sites share no catalogue; default: 4096)")
    local.add_argument("--max-epsilon", type=epsilon_cap, default=10.0,
                       help="each site's lifetime epsilon cap in its --node-config (default: 10.0)")
    local.add_argument("--run-config", default="",
                       help='more run-config overrides, e.g. "local-epochs=1 target-epsilon=4"')
    local.add_argument("--out", default=None,
                       help="a new directory for everything (default: deploy-local/<timestamp>)")
    local.set_defaults(handler=run_local_command)


def epsilon_cap(text: str) -> float:
    """argparse type: a finite epsilon in [0.01, 100] (the run config's own range)."""
    import argparse
    import math

    from recmodel.config import MAX_EPSILON, MIN_EPSILON

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and MIN_EPSILON <= value <= MAX_EPSILON):
        raise argparse.ArgumentTypeError(f"expected a finite epsilon in [{MIN_EPSILON:g}, {MAX_EPSILON:g}], got {text}")
    return value


def run_init(args) -> int:
    from deploy.credentials import create_credentials, parse_hosts, parse_partners, parse_port

    partners = parse_partners(args.partners)
    hosts = parse_hosts(tuple(args.superlink_host))
    parse_port(args.superlink_port)
    out = Path(args.out)
    credentials = create_credentials(out, partners, hosts, f"{hosts[0]}:{args.superlink_port}")
    print(f"wrote credentials for {len(partners)} partner(s) to {out}:")
    print(f"  coordinator: {credentials.superlink_certificate}, {credentials.superlink_key} (keep), "
          f"{out / 'ca' / 'ca.key'} (keep offline)")
    for partner in partners:
        print(f"  {partner}: hand over what {credentials.partner_dir(partner) / 'HANDOVER.txt'} lists")
    return 0


def run_local_command(args) -> int:
    import time

    from deploy.local_federation import run_local

    out = Path(args.out) if args.out else Path("deploy-local") / time.strftime("%Y%m%d-%H%M%S")
    return run_local(args.partners, args.rounds, out, source=Path(args.data) if args.data else None,
                     users=args.users, item_buckets=args.item_buckets, max_epsilon=args.max_epsilon,
                     run_config=args.run_config)
