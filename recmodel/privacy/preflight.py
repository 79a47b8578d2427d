"""Pre-flight privacy-utility estimate: how loud the DP noise is against one step's signal at a site.

At the planned settings a DP-SGD step adds Gaussian noise of std
``noise_multiplier x C`` to the sum of about ``sample_rate x examples``
clipped per-user gradients, each of norm at most C. The ratio

    noise_to_signal = noise_multiplier / (sample_rate x examples)

is the noise std per unit of the largest possible expected signal (per
coordinate it is far worse for rows few users touch, such as item rows). It
is data-independent given the example count, which the plan already treats
as public.

The threshold below is provisional: on the synthetic default (5,000 users per
partner, expected batch 250, noise multiplier 0.89) the ratio is 0.0035 and
DP beats popularity 2.8x; on ml-latest-small with 5 partners (122 users,
expected batch 24, noise multiplier 1.50) it is 0.062 and DP falls below
popularity. The frontier experiment (issue 11) is to calibrate it.
"""

from __future__ import annotations

from recmodel.privacy.budget import PlannedRelease

NOISE_TO_SIGNAL_WARNING = 0.02


def noise_to_signal(plan: PlannedRelease, examples: int) -> float:
    """``noise_multiplier / (sample_rate x examples)`` of one DP-SGD step (inf for no examples)."""
    expected_batch = plan.sample_rate * examples
    return plan.noise_multiplier / expected_batch if expected_batch > 0 else float("inf")


def noise_scaled_learning_rate(learning_rate: float, ratio: float,
                               threshold: float = NOISE_TO_SIGNAL_WARNING) -> float:
    """The DLRM's local step size at a DP site: ``learning_rate x min(1, threshold / ratio)``.

    Adam moves every coordinate by about the learning rate per step whether
    the step's gradient is signal or noise, so above the threshold the noise
    walks the item rows away faster than the signal moves them. A site whose
    noise-to-signal is k x the threshold steps k x shorter (ml-latest-small's
    122-user partners: ratio 0.055, 0.01 -> 0.0036); below the threshold
    (the synthetic default: 0.0035) nothing changes. It depends only on the
    site's planned DP settings: no data, no privacy cost.
    """
    return learning_rate * min(1.0, threshold / ratio) if ratio > 0 else learning_rate


def preflight_line(partner: str, *, examples: int, noise_multiplier: float, sample_rate: float,
                   ratio: float, threshold: float = NOISE_TO_SIGNAL_WARNING) -> str:
    """One console line for a partner; above ``threshold`` it says so and what would lower the ratio."""
    line = (f"pre-flight: partner '{partner}': {examples} users, expected batch {sample_rate * examples:.1f}, "
            f"noise multiplier {noise_multiplier:.3f}: noise/signal {ratio:.4f} per step")
    if ratio <= threshold:
        return line
    return (line + f" -- WARNING: above {threshold}, where the model may not beat popularity (its local learning "
            f"rate is scaled by {threshold / ratio:.2f}); lower it with more "
            "users per step (a larger batch-size, more users at this site), fewer steps (fewer rounds or "
            "local-epochs), or a larger target-epsilon")
