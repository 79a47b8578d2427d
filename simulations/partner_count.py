"""Partner-count sweep at a fixed total of users: 2, 5, 10 and 20 partners.

    python -m simulations.partner_count --dataset synthetic

The same users are dealt over more, smaller partners; each partner's DP noise weighs more as it shrinks.
Writes <work-dir>/results/partner_count-<data>.csv and .png (resumable).
"""

from __future__ import annotations

from simulations.experiment_cli import parser, run_experiment
from simulations.sweep import Point

COUNTS = (2, 5, 10, 20)


def points() -> list[Point]:
    return [Point(f"partners-{n}", {}, n, {"partner_count": n}) for n in COUNTS]


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    run_experiment("partner_count", points(), args, x="partner_count", xlabel="partners (same total users)")


if __name__ == "__main__":
    main()
