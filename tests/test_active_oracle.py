"""The oracle: buying along a ranking under a budget, overshoot rules, zero-cost frames, budgets too large."""

from __future__ import annotations

import warnings

import pytest

from ssal.active import Budget, Ledger, SimulatedOracle
from ssal.errors import SsalError, SsalWarning

CLASSES = ("Car", "Pedestrian", "Cyclist")


def pool(costs: list[int]):
    ids = [f"f{i}" for i in range(len(costs) + 1)]
    counts = {"f0": [1, 0, 0]} | {f"f{i + 1}": [c, 0, 0] for i, c in enumerate(costs)}
    oracle = SimulatedOracle(CLASSES, counts)
    ledger = Ledger.create("kitti", "train", CLASSES, ids, denominator=oracle.totals())
    ledger.add_round(oracle.purchase(["f0"], ledger, Budget(1), kind="initial"))  # round 0: f0
    ranking = [f"f{i + 1}" for i in range(len(costs))]
    return ledger, oracle, ranking


def test_stop_before_never_exceeds_the_budget():
    ledger, oracle, ranking = pool([3, 4, 5, 1])
    bought = oracle.buy(ranking, ledger, Budget(8))
    assert bought.frames == ["f1", "f2"]  # 3 + 4; the 5 would overflow, the 1 after it is not considered
    assert sum(bought.frame_costs()) == 7


def test_allow_last_buys_the_frame_that_crosses_the_budget():
    ledger, oracle, ranking = pool([3, 4, 5, 1])
    bought = oracle.buy(ranking, ledger, Budget(8), overshoot="allow_last")
    assert bought.frames == ["f1", "f2", "f3"]
    assert sum(bought.frame_costs()) == 12


def test_buying_stops_when_the_budget_is_exactly_spent():
    ledger, oracle, ranking = pool([4, 4, 0, 0])
    assert oracle.buy(ranking, ledger, Budget(8)).frames == ["f1", "f2"]


def test_empty_frames_cost_no_boxes_but_count_as_frames():
    ledger, oracle, ranking = pool([0, 2, 0, 3])
    bought = oracle.buy(ranking, ledger, Budget(5))
    assert bought.frames == ["f1", "f2", "f3", "f4"]
    assert bought.frame_costs() == [0, 2, 0, 3]
    assert bought.frame_costs("frames") == [1, 1, 1, 1]
    assert ledger.spent()["frames"] == 5  # with the initial frame


def test_frame_budgets_cost_one_per_frame_empty_or_not():
    ledger, oracle, ranking = pool([0, 7, 0, 3])
    bought = oracle.buy(ranking, ledger, Budget(3, "frames"))
    assert bought.frames == ["f1", "f2", "f3"]
    assert bought.frame_costs() == [1, 1, 1]
    assert bought.boxes == [[0, 0, 0], [7, 0, 0], [0, 0, 0]]


def test_a_budget_larger_than_the_pool_buys_everything_and_says_so():
    ledger, oracle, ranking = pool([1, 2])
    with pytest.warns(SsalWarning, match="more than the 2 remaining frames hold"):
        bought = oracle.buy(ranking, ledger, Budget(100))
    assert bought.frames == ranking
    assert bought.notes and ledger.unlabelled == []


def test_no_warning_when_the_pool_holds_enough():
    ledger, oracle, ranking = pool([1, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        oracle.buy(ranking, ledger, Budget(3))


def test_bad_budgets_and_rankings_are_errors():
    with pytest.raises(SsalError, match="budget must be positive"):
        Budget(0)
    with pytest.raises(SsalError, match="unit must be one of boxes, frames"):
        Budget(5, "points")
    ledger, oracle, ranking = pool([1, 2])
    with pytest.raises(SsalError, match="not in the unlabelled pool"):
        oracle.buy(["f0"] + ranking, ledger, Budget(2))  # f0 is already labelled
    with pytest.raises(SsalError, match="overshoot must be one of"):
        oracle.buy(ranking, ledger, Budget(2), overshoot="sometimes")
