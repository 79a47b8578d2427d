"""Checks on a partner's model update before it may reach the global model.

``update_problem`` rejects an update whose arrays differ from the global model's (names, shapes, dtypes), that
holds NaN/Inf, or whose L2 distance from the global model exceeds a bound that follows from clipping
(``update_norm_bound``); ``max-update-norm`` > 0 sets the bound explicitly.

Why the DP bound holds for an honest site. One DP-SGD step on a model with d parameters adds
``(sum of at most |batch| clipped per-user gradients + N(0, (sigma C)^2 I_d)) / B`` to the gradient, where C is
the clipping bound, sigma the noise multiplier and B the expected batch size (Poisson rate q times the site's
examples). Its norm is at most ``C (|batch| + sigma (sqrt(d) + 10)) / B`` except with probability below
exp(-50) (the chi norm's tail), and |batch| <= B + 10 sqrt(B) + 10 likewise (Poisson tail). SGD with momentum
beta moves at most ``lr / (1 - beta)`` times the largest step gradient per step, FedProx's pull only shrinks
the distance, so T steps move each model at most ``T lr (...) / (1 - beta)``. The bound is this sum over
the site's trained models (DLRM, profile model) times a safety factor of 2; an honest update is far below it.
Under DP the large item tables (``sparse-table-rows``) step by plain SGD at ``sparse-learning-rate`` beside the
local optimizer: their term is added, over-counted with the whole DLRM's d.
Without DP each step's mean gradient is clipped to C (``recmodel.training.local``): a step moves at most
``lr C / (1 - beta)``.
"""

from __future__ import annotations

import math

import torch
from flwr.app import ArrayRecord

from recmodel.config import RunConfig

SAFETY = 2.0
PROFILE_MOMENTUM = 0.9  # recmodel.training.private_round trains the profile model with this momentum
# Adam (torch defaults b1 = 0.9, b2 = 0.999): by Cauchy-Schwarz |m_t| <= (1 - b1) / sqrt(1 - b2)
# x sqrt(1 / (1 - b1^2 / b2)) x sqrt(v_t) = 7.27 sqrt(v_t), and the bias corrections multiply that by
# sqrt(1 - b2^t) / (1 - b1^t) <= 1; so a step moves each coordinate by at most 7.27 x the learning rate.
ADAM_STEP_BOUND = 0.1 / math.sqrt(0.001) / math.sqrt(1 - 0.81 / 0.999)


def reply_problem(config: RunConfig, global_state: dict[str, torch.Tensor], content) -> str | None:
    """Why a training reply's content cannot be aggregated (missing records or metrics, a bad update), or None."""
    if "arrays" not in content or "metrics" not in content:
        return f"the reply lacks its {'arrays' if 'arrays' not in content else 'metrics'} record"
    try:
        bound = update_norm_bound(config, global_state, content["metrics"])
    except (KeyError, TypeError, ValueError) as error:
        return f"its metrics cannot be read ({type(error).__name__}: {error})"
    return update_problem(global_state, content["arrays"], bound)


def update_problem(global_state: dict[str, torch.Tensor], update: ArrayRecord, bound: float | None) -> str | None:
    """Why ``update`` cannot be aggregated into ``global_state`` ({name: tensor}), or None if it can."""
    try:
        state = update.to_torch_state_dict()
    except Exception as error:  # a malformed ArrayRecord
        return f"its arrays cannot be read ({type(error).__name__}: {error})"
    missing, extra = sorted(global_state.keys() - state.keys()), sorted(state.keys() - global_state.keys())
    if missing or extra:
        return f"its arrays differ from the global model's (missing {missing[:3]}, unexpected {extra[:3]})"
    squared = 0.0
    for name, reference in global_state.items():
        tensor = state[name]
        if tensor.shape != reference.shape or tensor.dtype != reference.dtype:
            return (f"array '{name}' is {tuple(tensor.shape)} {tensor.dtype}, the global model's is "
                    f"{tuple(reference.shape)} {reference.dtype}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return f"array '{name}' holds NaN or Inf"
        squared += float(((tensor.double() - reference.double()) ** 2).sum())
    norm = math.sqrt(squared)
    if bound is not None and norm > bound:
        return f"its L2 distance from the global model, {norm:.4g}, exceeds the bound {bound:.4g}"
    return None


def update_norm_bound(config: RunConfig, global_state: dict[str, torch.Tensor], metrics) -> float:
    """The bound for one training reply (its ``steps``, ``sample-rate``, ``noise-multiplier``, ``num-examples``).

    ``max-update-norm`` > 0 wins.
    """
    if config.max_update_norm > 0:
        return config.max_update_norm
    steps, rate = float(metrics["steps"]), float(metrics["sample-rate"])
    sigma, examples = float(metrics["noise-multiplier"]), float(metrics["num-examples"])
    batch = max(rate * examples, 1.0)
    clipped_sum = config.max_grad_norm * (1 + 10 / math.sqrt(batch) + 10 / batch)  # over B, Poisson tail included

    def movement(prefix: str, learning_rate: float, momentum: float, model_steps: float, optimizer: str) -> float:
        d = sum(t.numel() for name, t in global_state.items() if name.startswith(prefix))
        if optimizer == "adam":  # whatever the gradient, each coordinate moves at most ADAM_STEP_BOUND x rate
            return model_steps * learning_rate * ADAM_STEP_BOUND * math.sqrt(d)
        if config.dp:
            step = clipped_sum + config.max_grad_norm * sigma * (math.sqrt(d) + 10) / batch
        else:
            step = config.max_grad_norm
        return model_steps * learning_rate * step / (1 - momentum)

    bound = movement("dlrm.", config.learning_rate, config.momentum, steps, config.optimizer)
    if config.dp and config.sparse_table_rows > 0 and config.proximal_mu == 0:  # large tables step by plain SGD
        bound += movement("dlrm.", config.sparse_learning_rate, 0.0, steps, "sgd")
    if config.profiles:
        bound += movement("profile.", config.profile_learning_rate, PROFILE_MOMENTUM,
                          config.profile_epochs / rate, "sgd")  # an epoch is 1 / sample-rate steps
    return SAFETY * bound
