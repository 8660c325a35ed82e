"""Every strategy ranks the whole unlabelled pool, deterministically under a seed, from model outputs alone."""

from __future__ import annotations

import numpy as np
import pytest

from ssal.active import Budget, Ledger, PoolOutputs, get_strategy
from ssal.active.config import ActiveConfig
from ssal.active.simulated_outputs import simulated_outputs
from ssal.active.strategies import STRATEGY_NAMES
from ssal.errors import SsalError

CLASSES = ("Car", "Pedestrian", "Cyclist")


def setup_pool(num_frames: int = 300, labelled: int = 20, seed: int = 0):
    outputs = simulated_outputs(num_frames, np.random.default_rng(seed), mc_passes=5, gradients=True,
                                num_points=True)
    ledger = Ledger.create("kitti", "train", CLASSES, outputs.frame_ids)
    counts = [[2, 1, 0]] * labelled
    from ssal.active.ledger import Round

    ledger.add_round(Round(0, "initial", "random", 0, Budget(60), "stop_before", outputs.frame_ids[:labelled],
                           counts))
    return outputs, ledger


def rank(name: str, outputs, ledger, seed: int = 0, budget=Budget(40), config=None):
    return get_strategy(name, config).rank(outputs, ledger.view(), budget, np.random.default_rng(seed))


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_strategy_returns_the_unlabelled_pool_once_with_evidence(name):
    outputs, ledger = setup_pool()
    ranking = rank(name, outputs, ledger)
    assert sorted(ranking.frame_ids) == sorted(ledger.unlabelled)
    assert len(ranking.reasons) == len(ranking) == 280
    assert ranking.predicted_boxes.shape == (280, 3)
    assert all(isinstance(r, str) and r for r in ranking.reasons)


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_strategy_is_deterministic_under_a_seed(name):
    outputs, ledger = setup_pool()
    first, second = rank(name, outputs, ledger, seed=3), rank(name, outputs, ledger, seed=3)
    assert first.frame_ids == second.frame_ids
    np.testing.assert_array_equal(first.uncertainty, second.uncertainty)


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_strategy_ranks_frames_without_predictions(name):
    outputs, ledger = setup_pool(num_frames=60)
    empty = PoolOutputs(outputs.frame_ids, np.zeros(61, dtype=np.int64),
                        {k: v[:0] for k, v in outputs.arrays.items()}, list(CLASSES))
    ranking = rank(name, empty, ledger)
    assert sorted(ranking.frame_ids) == sorted(ledger.unlabelled)


def test_random_order_changes_with_the_seed():
    outputs, ledger = setup_pool()
    assert rank("random", outputs, ledger, seed=1).frame_ids != rank("random", outputs, ledger, seed=2).frame_ids


def test_entropy_puts_scores_near_one_half_first_and_empty_frames_last():
    outputs = PoolOutputs.from_frames(CLASSES, [
        ("sure", _frame([0.99, 0.98])), ("unsure", _frame([0.5, 0.55])), ("empty", _frame([])),
        ("mixed", _frame([0.9, 0.5])), ("certain", _frame([1.0]))])
    ledger = Ledger.create("kitti", "train", CLASSES, outputs.frame_ids)
    ranking = get_strategy("entropy").rank(outputs, ledger.view(), Budget(5), np.random.default_rng(0))
    assert ranking.frame_ids[:3] == ["unsure", "mixed", "sure"]
    assert set(ranking.frame_ids[3:]) == {"empty", "certain"}  # a score of 1 has entropy ~0, not NaN
    assert np.isfinite(ranking.uncertainty).all()


def test_mc_dropout_prefers_boxes_that_move_under_dropout():
    steady, shaky = _frame([0.7]), _frame([0.7])
    steady["mc_boxes"] = np.repeat(steady["boxes"][:, None], 5, axis=1)
    shaky["mc_boxes"] = steady["mc_boxes"] + np.linspace(-0.5, 0.5, 5)[None, :, None] * [1, 1, 0, 0, 0, 0, 0]
    outputs = PoolOutputs.from_frames(CLASSES, [("steady", steady), ("shaky", shaky)])
    ledger = Ledger.create("kitti", "train", CLASSES, outputs.frame_ids)
    ranking = get_strategy("mc_dropout").rank(outputs, ledger.view(), Budget(5), np.random.default_rng(0))
    assert ranking.frame_ids == ["shaky", "steady"]
    assert ranking.uncertainty[1] == pytest.approx(0.0)


def test_coreset_starts_with_the_frame_farthest_from_the_labelled_set():
    near, far, labelled = _frame([0.5]), _frame([0.5]), _frame([0.5])
    labelled["roi_features"] = np.array([[1.0, 0, 0, 0]])
    near["roi_features"] = np.array([[0.9, 0.1, 0, 0]])
    far["roi_features"] = np.array([[0, 0, 1.0, 0]])
    outputs = PoolOutputs.from_frames(CLASSES, [("labelled", labelled), ("near", near), ("far", far)])
    ledger = Ledger.create("kitti", "train", CLASSES, outputs.frame_ids)
    from ssal.active.ledger import Round

    ledger.add_round(Round(0, "initial", "random", 0, Budget(1), "stop_before", ["labelled"], [[1, 0, 0]]))
    ranking = get_strategy("coreset").rank(outputs, ledger.view(), Budget(1), np.random.default_rng(0))
    assert ranking.frame_ids[0] == "far"


def test_coreset_needs_predictions_on_the_labelled_frames_too():
    outputs, ledger = setup_pool()
    unlabelled_only = outputs.select(outputs.positions(ledger.unlabelled))
    with pytest.raises(SsalError, match="pool inference must cover the labelled frames"):
        rank("coreset", unlabelled_only, ledger)


def test_crb_narrows_k1_then_k2_as_multiples_of_the_budget_in_frames():
    outputs, ledger = setup_pool()
    config = ActiveConfig(unit="frames")
    ranking = rank("crb", outputs, ledger, budget=Budget(10, "frames"), config=config)
    assert ranking.details["k1"] == 50 and ranking.details["k2"] == 30
    assert ranking.details["gpdb_steps"] == 20  # selection_multiple x N_r
    assert all(r.startswith("GPDB") for r in ranking.reasons[:20])


def test_strategies_say_what_they_need_from_pool_inference():
    outputs, ledger = setup_pool()
    plain = PoolOutputs(outputs.frame_ids, outputs.offsets,
                        {k: v for k, v in outputs.arrays.items() if k not in ("mc_boxes", "grad_embeddings")},
                        list(CLASSES))
    for name, needed in (("mc_dropout", "mc_boxes"), ("badge", "grad_embeddings")):
        with pytest.raises(SsalError, match=f"strategy '{name}' needs {needed}"):
            rank(name, plain, ledger)


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(SsalError, match="unknown strategy 'bald' \\(known: random, entropy, mc_dropout, coreset, "
                                        "badge, crb, cal\\)"):
        get_strategy("bald")


def test_outputs_of_another_class_list_are_refused():
    outputs, ledger = setup_pool()
    other = PoolOutputs(outputs.frame_ids, outputs.offsets, dict(outputs.arrays) | {
        "cls_probs": np.asarray(outputs.cls_probs)[:, :3]}, ["Vehicle", "Pedestrian", "Cyclist"])
    with pytest.raises(SsalError, match="pool outputs are for classes"):
        rank("entropy", other, ledger)


def _frame(scores, label: int = 1, dim: int = 4) -> dict:
    k = len(scores)
    boxes = np.tile([10.0, 0, -1, 3.9, 1.6, 1.5, 0], (k, 1))
    boxes[:, 0] += np.arange(k) * 5
    return {"boxes": boxes, "scores": np.asarray(scores, dtype=float), "labels": np.full(k, label),
            "cls_probs": np.full((k, 3), 1 / 3), "roi_features": np.ones((k, dim))}
