"""``mc_dropout`` (MC-Reg): frames by how much their boxes move under dropout, most unstable first.

Pool inference keeps dropout on in the RoI head and refines every final box's RoI ``P`` times (``mc_boxes``
(K, P, 7)). Each box's spread is measured in the box coder's normalised terms, so that a car and a pedestrian
compare: centre x, y over the mean box's BEV diagonal, z over its height, log sizes, and the heading as (sin,
cos) so that -pi and pi agree. A box's value is the mean variance over those 8 terms; a frame's is the mean over
its boxes (0 without boxes).
"""

from __future__ import annotations

import numpy as np

from ssal.active.budget import Budget
from ssal.active.config import ActiveConfig
from ssal.active.ledger import LedgerView
from ssal.active.outputs import PoolOutputs
from ssal.active.segments import segment_mean
from ssal.active.strategies.base import (Ranking, expected_costs, make_ranking, order_by, predicted_counts,
                                         unlabelled_positions)

CHUNK = 1 << 16


def box_regression_variance(mc_boxes: np.ndarray) -> np.ndarray:
    """(K,) mean normalised variance of boxes (K, P, 7) over their P passes."""
    out = np.empty(len(mc_boxes), dtype=np.float64)
    for start in range(0, len(mc_boxes), CHUNK):
        boxes = np.asarray(mc_boxes[start:start + CHUNK], dtype=np.float64)
        mean = boxes.mean(axis=1, keepdims=True)
        diagonal = np.maximum(np.hypot(mean[..., 3], mean[..., 4]), 1e-3)
        height = np.maximum(mean[..., 5], 1e-3)
        centre = np.stack((boxes[..., 0] / diagonal, boxes[..., 1] / diagonal, boxes[..., 2] / height), axis=-1)
        sizes = np.log(np.maximum(boxes[..., 3:6], 1e-3))
        heading = np.stack((np.sin(boxes[..., 6]), np.cos(boxes[..., 6])), axis=-1)
        terms = np.concatenate((centre, sizes, heading), axis=-1)  # (k, P, 8)
        out[start:start + len(boxes)] = terms.var(axis=1).mean(axis=-1)
    return out


def rank(outputs: PoolOutputs, view: LedgerView, budget: Budget, rng: np.random.Generator,
         options: ActiveConfig) -> Ranking:
    positions = unlabelled_positions(outputs, view)
    value = segment_mean(box_regression_variance(outputs.mc_boxes), outputs.offsets)[positions]
    counts = predicted_counts(outputs, options.cost_score_threshold)[positions]
    order = order_by(value, rng)
    passes = outputs.mc_boxes.shape[1]
    empty = outputs.counts()[positions] == 0
    reasons = ["no predicted box (variance 0)" if empty[i] else
               f"box regression variance {value[i]:.4g} over {passes} dropout passes" for i in order]
    return make_ranking("mc_dropout", outputs, positions, order, uncertainty=value, similarity=None, counts=counts,
                        costs=expected_costs(counts, budget), reasons=reasons)
