"""``coreset`` (Sener & Savarese 2018): greedy k-centre over frame features, the labelled set counting as
centres already chosen.

A frame's feature is the mean RoI feature of its predicted boxes, L2-normalised (zero for a frame without
boxes), so distances compare directions of the RoI embedding, not its scale. The next frame is always the one
farthest from every labelled and already chosen frame; the selection runs until its expected cost reaches the
``selection_multiple`` of the budget (``ssal.active.strategies.base``), and the rest follow by that same
distance, farthest first. Needs pool inference over the labelled frames too. Ties break in a seeded random order.
"""

from __future__ import annotations

import numpy as np

from ssal.active.budget import Budget
from ssal.active.config import ActiveConfig
from ssal.active.ledger import LedgerView
from ssal.active.outputs import PoolOutputs
from ssal.active.segments import gather_rows, segment_mean
from ssal.active.strategies.base import (Ranking, expected_costs, labelled_positions, make_ranking,
                                         predicted_counts, unlabelled_positions)
from ssal.active.strategies.distances import NearestDistance


def frame_features(outputs: PoolOutputs, positions: np.ndarray | None = None, name: str = "roi_features"
                   ) -> np.ndarray:
    """(M, F) L2-normalised mean of ``name`` rows (RoI features) of frames ``positions`` (default: every frame);
    zero rows for frames without boxes."""
    means = frame_means(outputs, positions, name)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    return np.where(norms > 0, means / np.maximum(norms, 1e-12), 0.0).astype(np.float32)


def frame_means(outputs: PoolOutputs, positions: np.ndarray | None, name: str) -> np.ndarray:
    """(M, F) mean of ``name`` rows over each frame of ``positions`` (default: all), reading only their rows."""
    if positions is None:
        return segment_mean(outputs.arrays[name], outputs.offsets)
    rows, offsets = gather_rows(outputs.offsets, positions)
    return segment_mean(np.asarray(outputs.arrays[name][rows]), offsets)


def rank(outputs: PoolOutputs, view: LedgerView, budget: Budget, rng: np.random.Generator,
         options: ActiveConfig) -> Ranking:
    unlabelled = unlabelled_positions(outputs, view)
    labelled = labelled_positions(outputs, view, required=True, strategy="coreset")
    shuffle = rng.permutation(len(unlabelled))  # seeded tie-breaking: argmax takes the first of equals
    all_features = frame_features(outputs)
    features = all_features[unlabelled[shuffle]]
    counts = predicted_counts(outputs, options.cost_score_threshold)[unlabelled[shuffle]]
    costs = expected_costs(counts, budget)
    nearest = NearestDistance(features)
    if len(labelled):
        nearest.add(all_features[labelled])
    chosen, distance, reasons = _greedy(nearest, costs, budget, options.selection_multiple, rng,
                                        start_at_random=not len(labelled))
    rest = np.setdiff1d(np.arange(len(features)), chosen)
    rest_distance = np.sqrt(nearest.squared[rest])
    rest = rest[np.argsort(-rest_distance, kind="stable")]
    order = np.concatenate((chosen, rest)).astype(np.int64)
    distances = np.full(len(features), np.nan)
    distances[chosen] = distance
    distances[rest] = np.sqrt(nearest.squared[rest])
    reasons += [f"after the k-centre selection: {d:.3f} from the nearest chosen or labelled frame"
                for d in distances[rest]]
    # make_ranking indexes evidence by candidate, so undo the shuffle's bookkeeping via ``shuffle``
    return make_ranking("coreset", outputs, unlabelled[shuffle], order, uncertainty=np.full(len(order), np.nan),
                        similarity=distances, counts=counts, costs=costs, reasons=reasons,
                        similarity_kind="feature distance")


def _greedy(nearest: NearestDistance, costs: np.ndarray, budget: Budget, multiple: float,
            rng: np.random.Generator, start_at_random: bool) -> tuple[list[int], list[float], list[str]]:
    target = multiple * budget.amount
    chosen, distance, reasons = [], [], []
    spent = 0.0
    taken = np.zeros(len(costs), dtype=bool)
    while spent < target and len(chosen) < min(len(costs), int(np.ceil(target))):
        if start_at_random and not chosen:  # no labelled frame to measure from: start anywhere (seeded)
            pick = int(rng.integers(len(costs)))
            reasons.append("k-centre: first centre (no labelled frame to start from), chosen at random")
            distance.append(np.nan)
        else:
            pick = int(np.argmax(np.where(taken, -1.0, nearest.squared)))
            d = float(np.sqrt(nearest.squared[pick]))
            reasons.append(f"k-centre: farthest frame, {d:.3f} from the nearest chosen or labelled frame")
            distance.append(d)
        chosen.append(pick)
        taken[pick] = True
        spent += costs[pick]
        nearest.add_index(pick)
    return chosen, distance, reasons
