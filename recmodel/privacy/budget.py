"""The partner-side budget check: refuse a release that would pass the cap.

The check runs before training, on the exact (noise multiplier, sample rate,
steps) the round will use, composed with everything already in the ledger.
Nothing the coordinator sends (more rounds, more local epochs, a smaller noise
multiplier via a larger target epsilon, a larger sample rate via a larger
batch) changes the outcome: all of them show up in the planned release.
"""

from __future__ import annotations

from dataclasses import dataclass

from recmodel.privacy.accounting import epsilon_of



@dataclass(frozen=True)
class PlannedRelease:
    """What one round of DP-SGD will release: ``steps`` Poisson-subsampled Gaussian steps."""

    noise_multiplier: float
    sample_rate: float
    steps: int

    def as_history(self) -> list[tuple[float, float, int]]:
        return [(self.noise_multiplier, self.sample_rate, self.steps)]


class BudgetExhausted(Exception):
    """Training this round would take the partner past its epsilon cap."""

    def __init__(self, partner: str, *, spent: float, projected: float, cap: float, what: str = "this round",
                 consequence: str = "It does not train.") -> None:
        self.partner, self.spent, self.projected, self.cap = partner, spent, projected, cap
        super().__init__(
            f"budget-exhausted: partner '{partner}' has spent epsilon {spent:.4f}; {what} would "
            f"reach {projected:.4f}, above its cap max-epsilon={cap:g}. {consequence}"
        )


def check_budget(history, planned: list[PlannedRelease], *, delta: float, accountant: str, cap: float,
                 partner: str, what: str = "this round", consequence: str = "It does not train.") -> float:
    """Projected cumulative epsilon after all ``planned`` releases; raises ``BudgetExhausted`` if above ``cap``
    (``what`` names the releases and ``consequence`` what the site does, in its message)."""
    upcoming = [step for release in planned for step in release.as_history()]
    projected = epsilon_of(list(history) + upcoming, delta=delta, accountant=accountant)
    if projected > cap:
        spent = epsilon_of(history, delta=delta, accountant=accountant)
        raise BudgetExhausted(partner, spent=spent, projected=projected, cap=cap, what=what,
                              consequence=consequence.format(room=max(0.0, cap - spent)))
    return projected
