"""``entropy``: frames by the mean binary entropy of their boxes' scores, most uncertain first.

A box with score s has entropy h = -s log2 s - (1 - s) log2 (1 - s) bits (s clamped away from 0 and 1); a
frame's value is the mean over its boxes, 0 for a frame without predictions. Ties (e.g. all empty frames) are
broken in a seeded random order.
"""

from __future__ import annotations

import numpy as np

from ssal.active.budget import Budget
from ssal.active.config import ActiveConfig
from ssal.active.ledger import LedgerView
from ssal.active.outputs import PoolOutputs
from ssal.active.segments import segment_mean
from ssal.active.strategies.base import (Ranking, binary_entropy, expected_costs, make_ranking, order_by,
                                         predicted_counts, unlabelled_positions)


def frame_entropy(outputs: PoolOutputs) -> np.ndarray:
    """(N,) mean box entropy of every frame of ``outputs`` (0 without boxes)."""
    return segment_mean(binary_entropy(outputs.scores), outputs.offsets)


def rank(outputs: PoolOutputs, view: LedgerView, budget: Budget, rng: np.random.Generator,
         options: ActiveConfig) -> Ranking:
    positions = unlabelled_positions(outputs, view)
    value = frame_entropy(outputs)[positions]
    counts = predicted_counts(outputs, options.cost_score_threshold)[positions]
    order = order_by(value, rng)
    empty = outputs.counts()[positions] == 0
    reasons = ["no predicted box (entropy 0)" if empty[i] else f"mean box entropy {value[i]:.3f} bits"
               for i in order]
    return make_ranking("entropy", outputs, positions, order, uncertainty=value, similarity=None, counts=counts,
                        costs=expected_costs(counts, budget), reasons=reasons)
