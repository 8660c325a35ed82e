"""``random``: the unlabelled pool in a seeded random order (the baseline every strategy must beat)."""

from __future__ import annotations

import numpy as np

from ssal.active.budget import Budget
from ssal.active.config import ActiveConfig
from ssal.active.ledger import LedgerView
from ssal.active.outputs import PoolOutputs
from ssal.active.strategies.base import (Ranking, expected_costs, make_ranking, predicted_counts,
                                         unlabelled_positions)


def rank(outputs: PoolOutputs, view: LedgerView, budget: Budget, rng: np.random.Generator,
         options: ActiveConfig) -> Ranking:
    positions = unlabelled_positions(outputs, view)
    counts = predicted_counts(outputs, options.cost_score_threshold)[positions]
    order = rng.permutation(len(positions))
    return make_ranking("random", outputs, positions, order, uncertainty=np.full(len(positions), np.nan),
                        similarity=None, counts=counts, costs=expected_costs(counts, budget),
                        reasons=["random order"] * len(order))
