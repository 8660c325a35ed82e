"""Distances from every candidate to its nearest chosen point, updated one centre at a time (k-centre greedy for
coreset, D^2 sampling for BADGE and CRB). Each update costs one pass over the candidates: O(N x D)."""

from __future__ import annotations

import numpy as np

CHUNK = 1 << 14


class NearestDistance:
    """Squared Euclidean distance of each row of ``points`` (N, D) to the nearest centre added so far
    (``inf`` before the first)."""

    def __init__(self, points: np.ndarray):
        self.points = np.ascontiguousarray(points, dtype=np.float32)
        self.norms = np.einsum("ij,ij->i", self.points, self.points)
        self.squared = np.full(len(self.points), np.inf)

    def add(self, centres: np.ndarray) -> None:
        """Add centres (M, D) (or one (D,))."""
        centres = np.atleast_2d(np.asarray(centres, dtype=np.float32))
        centre_norms = np.einsum("ij,ij->i", centres, centres)
        for start in range(0, len(centres), CHUNK):
            block = centres[start:start + CHUNK]
            d = self.norms[:, None] + centre_norms[None, start:start + CHUNK] - 2.0 * (self.points @ block.T)
            np.minimum(self.squared, np.maximum(d, 0.0).min(axis=1), out=self.squared)

    def add_index(self, index: int) -> None:
        self.add(self.points[index])
