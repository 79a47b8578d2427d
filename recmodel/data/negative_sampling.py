"""Which catalogue items a training example draws as negatives, and the sampled-softmax correction.

``uniform``: every catalogue item alike. ``popularity``: item i with probability
q_i proportional to (count_i + 1)^0.75 (the word2vec exponent), where count_i
is the item count behind the DLRM's item prior (``DLRM.item_prior`` =
log1p(count) per item row: the sites' DP-noised counts, or zeros without a
prior, which gives the uniform distribution). Full-catalogue ranking is
decided among the popular items; uniform negatives from a long-tail catalogue
are mostly items no user would rank anyway (on ml-latest-small, 9,742 items,
popularity negatives lifted the federated NDCG@10 from about 0.033 to 0.036-0.043
after 6-10 rounds; docs/model.md).

The sampled softmax estimates the full softmax's partition function from K
draws of q: exp(s_n) of each negative n counts as exp(s_n) / (K q_n). So a
negative's logit gets the offset -log(K q_n), a positive's none
(``logit_offsets``). Drawing from the item prior is post-processing of its
release: no privacy cost, and one user's example depends on no other user's
data.
"""

from __future__ import annotations

import numpy as np

NEGATIVE_SAMPLING = ("popularity", "uniform")
POPULARITY_EXPONENT = 0.75


class NegativeSampler:
    """Draws catalogue positions from probabilities ``q`` [N] (float64, sum 1, all > 0)."""

    def __init__(self, probabilities: np.ndarray) -> None:
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if probabilities.ndim != 1 or len(probabilities) == 0 or not np.all(probabilities > 0):
            raise ValueError("negative sampling needs a positive probability for every catalogue item")
        self.probabilities = probabilities / probabilities.sum()
        self._cumulative = np.cumsum(self.probabilities)
        self._log_probabilities = np.log(self.probabilities)

    @classmethod
    def uniform(cls, items: int) -> "NegativeSampler":
        return cls(np.ones(items))

    @classmethod
    def from_item_prior(cls, item_prior: np.ndarray, item_rows: np.ndarray) -> "NegativeSampler":
        """q_i proportional to (count_i + 1)^0.75 with count = expm1(item_prior[item_rows]) (clipped at 0).

        ``item_prior``: [item_buckets] log1p counts per item row; ``item_rows``: [N] each catalogue item's row.
        """
        counts = np.expm1(np.clip(np.asarray(item_prior, dtype=np.float64)[item_rows], 0.0, None))
        return cls((counts + 1.0) ** POPULARITY_EXPONENT)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` catalogue positions [size] int64, drawn with replacement."""
        positions = np.searchsorted(self._cumulative, rng.random(size) * self._cumulative[-1], side="right")
        return np.minimum(positions, len(self.probabilities) - 1).astype(np.int64)

    def logit_offsets(self, negatives: np.ndarray) -> np.ndarray:
        """-log(K q_n) [K] float32 for K drawn ``negatives`` (catalogue positions)."""
        return (-np.log(len(negatives)) - self._log_probabilities[negatives]).astype(np.float32)


def negative_sampler(name: str, *, item_prior: np.ndarray | None, item_rows: np.ndarray) -> NegativeSampler:
    """The sampler a run's ``negative-sampling`` names, over the catalogue items [N] that ``item_rows`` map."""
    if name not in NEGATIVE_SAMPLING:
        raise ValueError(f"negative-sampling = {name!r} is unknown; allowed: {', '.join(NEGATIVE_SAMPLING)}")
    if name == "uniform" or item_prior is None:
        return NegativeSampler.uniform(len(item_rows))
    return NegativeSampler.from_item_prior(item_prior, item_rows)
