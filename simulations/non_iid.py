"""Non-IID sweep: users dealt to partners by Dirichlet(alpha) over their main category, alpha 0.1 to 10, and IID.

    python -m simulations.non_iid --dataset runs/ml-latest-small.parquet --partners 3

For each alpha the events get a ``partner_id`` column (``fedrec data partition --by dirichlet`` logic,
seeded by --seed) and are written to <work-dir>/data/; small alpha = each partner sees few categories.
Writes <work-dir>/results/non_iid-<data>.csv and .png (resumable).
"""

from __future__ import annotations

from pathlib import Path

from recmodel.cli.output import write_parquet_atomically
from recmodel.data.partition import assign_partners
from recmodel.data.schema import load_events
from recmodel.data.synthetic import SyntheticSpec, generate_events
from simulations.defaults import default_run_config
from simulations.experiment_cli import base_config, parser, results_name, run_experiment
from simulations.sweep import Point

ALPHAS = (0.1, 0.3, 1.0, 10.0)


def partitioned_events(dataset: str, *, partners: int, by: str, alpha: float, seed: int, target: Path) -> Path:
    """``target``: the data set with ``partner_id`` = partner-<site> from ``assign_partners``."""
    if not target.exists():
        if dataset == "synthetic":
            config = default_run_config(seed=seed)
            events = generate_events(SyntheticSpec(users=config.synthetic_users, items=config.synthetic_items,
                                                   categories=config.synthetic_categories, partners=1, seed=seed))
        else:
            events = load_events(dataset)
        site = assign_partners(events, by=by, partners=partners, alpha=alpha, seed=seed)
        events = events.assign(partner_id=events["user_id"].map(lambda u: f"partner-{site[u]}"))
        target.parent.mkdir(parents=True, exist_ok=True)
        write_parquet_atomically(events, target)
    return target


def main() -> None:
    args = parser(__doc__.splitlines()[0], partners=3).parse_args()
    data_dir = (args.work_dir / results_name("non_iid", args) / "data").resolve()
    base = base_config(args)
    base.pop("dataset", None)
    points = []
    for label, by, alpha in [*((f"alpha-{a:g}", "dirichlet", a) for a in ALPHAS), ("iid", "user", 0.0)]:
        path = partitioned_events(args.dataset, partners=args.partners, by=by, alpha=alpha, seed=args.seed,
                                  target=data_dir / f"{label}.parquet")
        points.append(Point(label, {"dataset": str(path)}, args.partners,
                            {"alpha": alpha if by == "dirichlet" else float("inf")}))
    run_experiment("non_iid", points, args, x="alpha", xlabel="Dirichlet alpha (log scale; IID at the right edge)",
                   log_x=True, base=base)


if __name__ == "__main__":
    main()
