"""What a site checks in every message from the coordinator before it reads any user's data.

The coordinator may be malicious: it chooses the weights, the model spec and the settings, and may craft them
so that the site fails, or releases something non-finite, only when some user is present. So before anything
touches user data the site checks, against what it expects itself:

- the settings it reads (``ReceivedSettings``): types, finite numbers, ranges;
- the model spec: equal to the spec the site derives from the admitted run config and its own public facts
  (``expected_spec``: the shared catalogue in simulation, the declared schema in a deployment), so no table is
  a row short (an index error only for the users holding that row) and no size is absurd; nothing is
  allocated from the received spec;
- the weights: exactly the expected names, shapes and dtypes, every value finite, and every magnitude at most
  ``weight_bound`` (``max-received-weight`` in the site's policy, default ``DEFAULT_MAX_RECEIVED_WEIGHT``).

Anything else raises ``InvalidMessage``; the site answers it as it answers every refusal (``client.refusal``).
Per user, DP-SGD also leaves out any user whose gradient is not finite
(``recmodel.training.embedding_aware_dp_sgd``), so no weights can make a release non-finite.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from recmodel.config import MAX_NORM, MAX_REFERENCE_TIME
from recmodel.model.bundle import BundleSpec, Recommender

# Weights of every honest model of this project stay orders of magnitude below this: layers start at |w| < 1
# (normal init with std d^-1/2, PyTorch's Linear init below 1), an Adam step moves a coordinate by at most
# 7.27 x the learning rate (0.0727 at the default 0.01), and the item prior holds log1p of counts (27.6 for a
# trillion). With |w| <= 1e4 and this model's depth (two-layer MLPs of width <= 64, one dot product of width
# <= 64) no forward pass comes near float32's 3.4e38, so crafted finite weights cannot overflow into NaN.
DEFAULT_MAX_RECEIVED_WEIGHT = 1e4
MAX_ROUND = 1_000_000


class InvalidMessage(ValueError):
    """A message from the coordinator that the site does not act on (the reason stays in the site's log)."""


@dataclass(frozen=True)
class ReceivedSettings:
    """The settings a site reads from a message's ``config`` record."""

    run_dir: str
    run_id: str
    server_round: int
    phase: str
    proximal_mu: float
    reference_time: float
    model_spec: str


def received_settings(values: Mapping[str, Any], *, default_phase: str) -> ReceivedSettings:
    """Check and type the settings the site reads; ``InvalidMessage`` names the first bad key."""
    def text(key: str, default: str | None = None, limit: int = 4096) -> str:
        value = values.get(key, default)
        if not isinstance(value, str) or len(value) > limit:
            raise InvalidMessage(f"setting '{key}' must be a string of at most {limit} characters (got "
                                 f"{type(value).__name__})")
        return value

    def number(key: str, default: float, low: float, high: float) -> float:
        value = values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
            raise InvalidMessage(f"setting '{key}' must be a number in [{low:g}, {high:g}] (got {value!r})")
        return float(value)

    server_round = number("server-round", 0, -1, MAX_ROUND)
    if server_round != int(server_round):
        raise InvalidMessage(f"setting 'server-round' must be a whole number (got {server_round!r})")
    reference_time = number("reference-time", 0.0, 0.0, MAX_REFERENCE_TIME)
    if not reference_time > 0:
        raise InvalidMessage("setting 'reference-time' is missing or 0: the coordinator sends the run's resolved "
                             "reference time (a coordinator older than this site?)")
    return ReceivedSettings(
        run_dir=text("run-dir"), run_id=text("run-id", limit=256), server_round=int(server_round),
        phase=text("phase", "", limit=64) or default_phase, proximal_mu=number("proximal-mu", 0.0, 0.0, MAX_NORM),
        reference_time=reference_time, model_spec=text("model-spec", limit=65_536))


def received_model(settings: ReceivedSettings, state: Mapping[str, torch.Tensor], expected: BundleSpec, *,
                   weight_bound: float) -> Recommender:
    """The model built from the site's own ``expected`` spec and loaded with ``state``, once both check out."""
    try:
        sent = BundleSpec.from_dict(json.loads(settings.model_spec))
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise InvalidMessage(f"the model spec cannot be read ({type(error).__name__})") from None
    if sent != expected:
        differing = spec_differences(sent, expected)
        raise InvalidMessage(f"the model spec differs from the one this site expects: {differing}")
    model = Recommender(expected)
    reference = model.state_dict()
    missing, extra = sorted(reference.keys() - state.keys()), sorted(state.keys() - reference.keys())
    if missing or extra:
        raise InvalidMessage(f"the weights' names differ (missing {missing[:3]}, unexpected {extra[:3]})")
    for name, want in reference.items():
        got = state[name]
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or got.dtype != want.dtype:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise InvalidMessage(f"weight '{name}' is {shape} {getattr(got, 'dtype', '')}, expected "
                                 f"{tuple(want.shape)} {want.dtype}")
        if got.is_floating_point():
            if not bool(torch.isfinite(got).all()):
                raise InvalidMessage(f"weight '{name}' holds NaN or Inf")
            largest = float(got.abs().max()) if got.numel() else 0.0
            if largest > weight_bound:
                raise InvalidMessage(f"weight '{name}' has |w| = {largest:.3g}, above the site's bound "
                                     f"max-received-weight={weight_bound:g}")
    model.load_state_dict(dict(state))
    return model


def spec_differences(sent: BundleSpec, expected: BundleSpec) -> str:
    """'dlrm.attribute_buckets: 31 (expected 32), ...' for the fields that differ."""
    got, want = sent.to_dict(), expected.to_dict()
    parts = []
    for part in ("dlrm", "profile"):
        a, b = got.get(part) or {}, want.get(part) or {}
        if (a == {}) != (b == {}):
            parts.append(f"{part}: {'absent' if not a else 'present'} (expected {'absent' if not b else 'present'})")
            continue
        parts += [f"{part}.{key}: {a.get(key)!r} (expected {b.get(key)!r})" for key in sorted(set(a) | set(b))
                  if a.get(key) != b.get(key)]
    return ", ".join(parts[:5]) or "(no field differs)"

