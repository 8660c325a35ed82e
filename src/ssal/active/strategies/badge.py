"""``badge`` (Ash et al., ICLR 2020): k-means++ seeding over gradient embeddings.

Pool inference stores, per box, the gradient of the confidence loss (with the model's own prediction as the
target) with respect to the last layer of the RoI head's confidence branch (``grad_embeddings``, see
``ssal.models.gradient_embedding``). Its length grows with uncertainty, its direction follows the box's
features. A frame's embedding is the mean over its boxes (the gradient of the frame's mean loss; zero without
boxes). The first centre is the longest embedding; each next one is drawn with probability proportional to its
squared distance D^2 to the nearest centre (seeded). The seeding runs until its expected cost reaches the
``selection_multiple`` of the budget; the rest follow by D^2, largest first.
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
from ssal.active.strategies.distances import NearestDistance


def kmeans_pp(points: np.ndarray, costs: np.ndarray, target: float, limit: int, rng: np.random.Generator
              ) -> tuple[list[int], list[float], NearestDistance]:
    """k-means++ seeding of ``points`` (N, D) until the chosen ``costs`` reach ``target`` or ``limit`` points.

    Returns the seeds in order, each seed's distance to the seeds before it (NaN for the first), and the
    distances of every point to its nearest seed."""
    nearest = NearestDistance(points)
    first = int(order_by(nearest.norms, rng)[0])  # the longest; equals in seeded order
    chosen, distances, spent = [first], [np.nan], float(costs[first])
    nearest.add_index(first)
    taken = np.zeros(len(points), dtype=bool)
    taken[first] = True
    while spent < target and len(chosen) < min(limit, len(points)):
        weights = np.where(taken, 0.0, nearest.squared)
        total = weights.sum()
        if total > 0:
            pick = int(rng.choice(len(points), p=weights / total))
        else:  # every remaining point sits on a seed: any of them
            pick = int(rng.choice(np.flatnonzero(~taken)))
        chosen.append(pick)
        distances.append(float(np.sqrt(nearest.squared[pick])))
        taken[pick] = True
        spent += float(costs[pick])
        nearest.add_index(pick)
    return chosen, distances, nearest


def rank(outputs: PoolOutputs, view: LedgerView, budget: Budget, rng: np.random.Generator,
         options: ActiveConfig) -> Ranking:
    positions = unlabelled_positions(outputs, view)
    embeddings = segment_mean(outputs.grad_embeddings, outputs.offsets)[positions]
    counts = predicted_counts(outputs, options.cost_score_threshold)[positions]
    costs = expected_costs(counts, budget)
    target = options.selection_multiple * budget.amount
    chosen, seed_distances, nearest = kmeans_pp(embeddings, costs, target, int(np.ceil(target)), rng)
    rest = np.setdiff1d(np.arange(len(positions)), chosen)
    shuffled = rng.permutation(rest)
    rest = shuffled[np.argsort(-nearest.squared[shuffled], kind="stable")]
    order = np.concatenate((chosen, rest)).astype(np.int64)
    similarity = np.full(len(positions), np.nan)
    similarity[chosen] = seed_distances
    similarity[rest] = np.sqrt(nearest.squared[rest])
    reasons = ["k-means++ seed: longest gradient embedding" if k == 0 else
               f"k-means++ seed drawn by D^2 (distance {d:.4g} to the nearest earlier seed)"
               for k, d in enumerate(seed_distances)]
    reasons += [f"after the seeding: distance {similarity[i]:.4g} to the nearest seed" for i in rest]
    return make_ranking("badge", outputs, positions, order, uncertainty=np.sqrt(nearest.norms),
                        similarity=similarity, counts=counts, costs=costs, reasons=reasons,
                        similarity_kind="gradient distance")
