"""The random initial labelled set (SPEC 1): frames in a seeded shuffled order while the cumulative cost stays
within the initial budget.

The order is a permutation of the *sorted* pool drawn from ``numpy.random.default_rng(seed)``, so the same seed
gives the same set whatever the order of the split file or the dataset's location. Buying follows the oracle's
rule: stop at the first frame that would exceed the budget (the original's rule; skipping it to buy cheaper frames
further down would favour sparse frames). Unlike the original, a first frame that alone exceeds the budget is
not taken: the set is then empty, which is an error that says so.
"""

from __future__ import annotations

import numpy as np

from ssal.active.budget import Budget
from ssal.active.ledger import Ledger, Round
from ssal.active.oracle import Oracle, walk_ranking
from ssal.errors import SsalError


def initial_order(pool: list[str], seed: int) -> list[str]:
    """The pool in the seeded random order the initial set is drawn from."""
    ordered = sorted(pool)
    return [ordered[i] for i in np.random.default_rng(seed).permutation(len(ordered))]


def select_initial(ledger: Ledger, oracle: Oracle, budget: Budget, seed: int) -> Round:
    """Buy round 0 of ``ledger`` from ``oracle``: random frames under ``budget``."""
    if ledger.rounds:
        raise SsalError("the ledger already has an initial set", ledger.path or "ledger")
    item = oracle.purchase(initial_order(ledger.pool, seed), ledger, budget, "stop_before", seed=seed,
                           kind="initial", strategy="random")
    if not item.frames:
        raise SsalError(f"the initial set is empty: the first frame of seed {seed}'s order alone costs more than "
                        f"{budget}; raise the budget or pick another seed", "--budget")
    return ledger.add_round(item)


def request_initial(ledger: Ledger, budget: Budget, seed: int) -> Round:
    """Round 0 for human annotation: the first ``budget`` frames of the seeded order, waiting for labels. A
    budget in boxes needs the labels to price frames, so it is frames only."""
    if budget.unit != "frames":
        raise SsalError("without an oracle the initial set cannot be priced in boxes; give --unit frames",
                        "--unit")
    walk = walk_ranking(initial_order(ledger.pool, seed), lambda _: 1.0, budget)
    item = Round(index=0, kind="initial", strategy="random", seed=seed, budget=budget, overshoot="stop_before",
                 frames=walk.frames, boxes=None, scores=[None] * len(walk.frames),
                 expected_costs=[1.0] * len(walk.frames), status="pending")
    return ledger.add_round(item)
