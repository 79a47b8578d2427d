"""Strategy comparison: FedAvg, FedProx and FedAdam at the default privacy settings.

    python -m simulations.strategies --dataset synthetic --partners 5

Writes <work-dir>/results/strategies-<data>.csv and .png (resumable).
"""

from __future__ import annotations

from simulations.experiment_cli import parser, run_experiment
from simulations.sweep import Point


def points(partners: int) -> list[Point]:
    return [Point(name, {"strategy": name}, partners, {"strategy": name}) for name in ("fedavg", "fedprox", "fedadam")]


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    run_experiment("strategies", points(args.partners), args, x="strategy", xlabel="strategy")


if __name__ == "__main__":
    main()
