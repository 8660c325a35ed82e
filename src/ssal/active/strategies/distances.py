"""Distances from every candidate to its nearest chosen point, updated one centre at a time (k-centre greedy for
coreset, D^2 sampling for BADGE and CRB). Each update costs one pass over the candidates: O(N x D)."""

from __future__ import annotations

import numpy as np

POINT_BLOCK = 1 << 15  # candidate rows per block
CENTRE_BLOCK = 256  # centres per block: blocks of at most 32k x 256 distances


class NearestDistance:
    """Squared Euclidean distance of each row of ``points`` (N, D) to the nearest centre added so far
    (``inf`` before the first)."""

    def __init__(self, points: np.ndarray):
        self.points = np.ascontiguousarray(points, dtype=np.float32)
        self.norms = np.einsum("ij,ij->i", self.points, self.points)
        self.squared = np.full(len(self.points), np.inf)

    def add(self, centres: np.ndarray) -> None:
        """Add centres (M, D) (or one (D,)); works in blocks so memory stays bounded for large M."""
        centres = np.atleast_2d(np.asarray(centres, dtype=np.float32))
        centre_norms = np.einsum("ij,ij->i", centres, centres)
        for c0 in range(0, len(centres), CENTRE_BLOCK):
            block, block_norms = centres[c0:c0 + CENTRE_BLOCK], centre_norms[c0:c0 + CENTRE_BLOCK]
            for p0 in range(0, len(self.points), POINT_BLOCK):
                rows = slice(p0, p0 + POINT_BLOCK)
                d = (self.points[rows] @ block.T) * -2.0
                d += self.norms[rows, None]
                d += block_norms[None, :]
                np.minimum(self.squared[rows], np.maximum(d.min(axis=1), 0.0), out=self.squared[rows])

    def add_index(self, index: int) -> None:
        self.add(self.points[index])
