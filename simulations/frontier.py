"""Privacy-utility frontier: NDCG@10 at target epsilon 0.5, 1, 2, 4, 8, 16 and without DP.

    python -m simulations.frontier --dataset runs/ml-latest-small.parquet --partners 5 \
        --run-config "negatives-per-positive=32"

Each DP point gives half its target epsilon to the popularity prior (its noise multiplier is calibrated so
that the one Gaussian release alone costs epsilon / 2 at delta 1e-5); every other setting is the default
(local Adam at a learning rate each DP site scales down by its noise-to-signal ratio, popularity negatives,
the round selected by validation NDCG reported beside the last round's). The non-private point runs the
defaults. Writes <work-dir>/results/frontier-<data>.csv and .png (resumable: rerun the command to finish it).
"""

from __future__ import annotations

import dp_accounting
from dp_accounting import pld

from simulations.experiment_cli import parser, run_experiment
from simulations.sweep import Point

EPSILONS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
PRIOR_SHARE = 0.5
DELTA = 1e-5


def gaussian_epsilon(noise_multiplier: float, delta: float = DELTA) -> float:
    accountant = pld.PLDAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(noise_multiplier))
    return accountant.get_epsilon(delta)


def noise_for_epsilon(epsilon: float, delta: float = DELTA) -> float:
    """The Gaussian noise multiplier whose single release costs ``epsilon`` at ``delta`` (bisection, +-0.1%)."""
    low, high = 0.05, 200.0
    while high / low > 1.001:
        middle = (low * high) ** 0.5
        low, high = (middle, high) if gaussian_epsilon(middle, delta) > epsilon else (low, middle)
    return round(high, 4)  # the larger: the release costs at most epsilon


def points(partners: int) -> list[Point]:
    private = [Point(f"eps-{eps:g}", {"target-epsilon": eps, "max-epsilon": max(10.0, eps + 2),
                                      "popularity-noise-multiplier": noise_for_epsilon(eps * PRIOR_SHARE)},
                     partners, {"epsilon_target": eps, "dp": True}) for eps in EPSILONS]
    return private + [Point("no-dp", {"dp": False}, partners, {"epsilon_target": float("inf"), "dp": False})]


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    table = run_experiment("frontier", points(args.partners), args, x="epsilon_target", xlabel="target epsilon "
                           "(log scale; no-DP at the right edge)", log_x=True)
    print(table[["name", "status", "ndcg@10", "popularity_ndcg@10", "epsilon_max", "seconds"]].to_string(index=False))


if __name__ == "__main__":
    main()
