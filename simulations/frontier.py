"""Privacy-utility frontier: NDCG@10 at target epsilon 0.5, 1, 2, 4, 8, 16 and without DP.

    python -m simulations.frontier --dataset runs/ml-latest-small.parquet --partners 5

Writes simulations/results/frontier-<data>.csv and .png (resumable: rerun the command to finish it).
The non-private point is plotted at the right edge (epsilon = inf) and marked in the CSV (``dp`` False).
"""

from __future__ import annotations

from simulations.experiment_cli import parser, run_experiment
from simulations.sweep import Point

EPSILONS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def points(partners: int) -> list[Point]:
    private = [Point(f"eps-{eps:g}", {"target-epsilon": eps, "max-epsilon": max(10.0, eps + 2)}, partners,
                     {"epsilon_target": eps, "dp": True}) for eps in EPSILONS]
    return private + [Point("no-dp", {"dp": False}, partners, {"epsilon_target": float("inf"), "dp": False})]


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    table = run_experiment("frontier", points(args.partners), args, x="epsilon_target", xlabel="target epsilon "
                           "(log scale; no-DP at the right edge)", log_x=True)
    print(table[["name", "status", "ndcg@10", "popularity_ndcg@10", "epsilon_max", "seconds"]].to_string(index=False))


if __name__ == "__main__":
    main()
