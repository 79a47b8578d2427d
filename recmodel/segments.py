"""Segments of users from their profile embeddings: k-means and a 2-D projection (numpy only)."""

from __future__ import annotations

import numpy as np


def kmeans(points: np.ndarray, k: int, *, seed: int = 0, iterations: int = 100) -> np.ndarray:
    """Labels [N] in 0..k-1 from k-means++ initialised Lloyd iterations over points [N, P]."""
    n = len(points)
    if not 1 <= k <= n:
        raise ValueError(f"segments must be between 1 and the number of users ({n}); got {k}")
    rng = np.random.default_rng(seed)
    centres = [points[rng.integers(n)]]
    for _ in range(1, k):
        distance = np.min(((points[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        total = distance.sum()
        centres.append(points[rng.choice(n, p=distance / total) if total > 0 else rng.integers(n)])
    centres = np.asarray(centres)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        new = np.argmin(((points[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        if np.array_equal(new, labels) and _ > 0:
            break
        labels = new
        for c in range(k):
            members = points[labels == c]
            if len(members):
                centres[c] = members.mean(0)
            else:  # an empty cluster restarts at the point farthest from its centre
                far = np.argmax(((points - centres[labels]) ** 2).sum(-1))
                centres[c], labels[far] = points[far], c
    return labels


def project_2d(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Principal-component projection [N, 2] of points [N, P] and the share of variance each axis explains [2]."""
    centred = points - points.mean(0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variance = singular ** 2
    explained = variance[:2] / variance.sum() if variance.sum() > 0 else np.zeros(2)
    return centred @ vt[:2].T, np.pad(explained, (0, 2 - len(explained)))
