"""CAL: model cascade, diversity gate, class quotas with a single down-weight, and termination with a complete
ranking on adversarial pools (what the original could loop forever on)."""

from __future__ import annotations

import signal
from contextlib import contextmanager

import numpy as np
import pytest

from ssal.active import Budget, Ledger, PoolOutputs, SimulatedOracle, get_strategy
from ssal.active.config import ActiveConfig, CalConfig
from ssal.active.strategies.cascade import fuse

CLASSES = ("Car", "Pedestrian", "Cyclist")


def frame(boxes, scores, labels, features=None) -> dict:
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 7)
    k = len(boxes)
    return {"boxes": boxes, "scores": np.asarray(scores, dtype=float), "labels": np.asarray(labels),
            "cls_probs": np.full((k, 3), 1 / 3),
            "roi_features": np.ones((k, 4)) if features is None else np.asarray(features, dtype=float)}


def car(x, y=0.0, heading=0.0):
    return [x, y, -1.0, 3.9, 1.6, 1.5, heading]


def rank_and_buy(outputs, budget, cost_per_frame=2, config=None, partner=None, classes=CLASSES):
    ledger = Ledger.create("kitti", "train", classes, outputs.frame_ids)
    ranking = get_strategy("cal", config).rank(outputs, ledger.view(), budget, np.random.default_rng(0),
                                               partner=partner)
    assert sorted(ranking.frame_ids) == sorted(outputs.frame_ids)
    counts = [cost_per_frame] + [0] * (len(classes) - 1)
    oracle = SimulatedOracle(classes, {f: counts for f in outputs.frame_ids})
    ledger.add_round(oracle.purchase([outputs.frame_ids[0]], ledger, Budget(cost_per_frame), kind="initial"))
    rest = [f for f in ranking.frame_ids if f != outputs.frame_ids[0]]
    bought = oracle.buy(rest, ledger, budget)
    return ranking, bought


@contextmanager
def time_limit(seconds: float):
    """Fail instead of hanging: CAL's termination is what these tests are about."""
    def fail(signum, frame):
        raise TimeoutError(f"CAL did not return a ranking within {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def finishes():
    """Every test here runs CAL under a time limit: non-termination (the original's defect) fails, not hangs."""
    with time_limit(60):
        yield


def adversarial_pool(case: str, n: int = 200) -> PoolOutputs:
    if case == "identical frames":  # every frame the same two boxes (Car, Pedestrian), same features
        frames = [frame([car(10), car(20)], [0.5, 0.6], [1, 2]) for _ in range(n)]
    elif case == "all quotas full at once":  # the first frame alone fills every quota
        frames = [frame([car(10), car(20), car(30)] * 3, [0.5] * 9, [1, 1, 1, 2, 2, 2, 3, 3, 3],
                        np.eye(9, 4) + i) for i in range(n)]
    elif case == "one class":  # three distinct feature vectors among 200 frames
        frames = [frame([car(10 + i % 7)], [0.3 + 0.6 * (i % 5) / 5], [1], [[i % 3, 1, 0, 0]]) for i in range(n)]
    else:
        frames = [frame(np.zeros((0, 7)), [], []) for _ in range(n)]
    classes = ("Car",) if case == "one class" else CLASSES
    for f in frames:
        f["cls_probs"] = np.full((len(f["scores"]), len(classes)), 1 / len(classes))
    return PoolOutputs.from_frames(classes, [(f"{i:04d}", f) for i, f in enumerate(frames)])


@pytest.mark.parametrize("case", ["identical frames", "all quotas full at once", "one class", "no predictions"])
def test_cal_terminates_on_adversarial_pools_by_its_own_rules(case):
    outputs = adversarial_pool(case)
    budget = Budget(1) if case == "all quotas full at once" else Budget(50)
    with time_limit(20):
        ranking, bought = rank_and_buy(outputs, budget, cost_per_frame=1, classes=outputs.classes)
    assert sum(bought.frame_costs()) == budget.amount  # the ranking is complete, so the oracle fills the budget
    details, reasons = ranking.details, ranking.reasons
    accepted, tail = reasons[:details["accepted"]], reasons[details["accepted"]:]
    assert all(r.startswith("accepted: ") for r in accepted) and not any(r.startswith("accepted") for r in tail)
    used, quotas = details["quota_used"], details["quotas"]
    if case == "identical frames":
        # The first frame passes; its twins are 1.0 similar, so they wait until delta has relaxed to 1.0
        # (level 5) and then fill the Car and Pedestrian quotas (ceil(50/3 + 1) = 18 frames); no frame holds a
        # cyclist, so the last open quota can never fill: the gates give up past level 5.
        assert "relaxation level" not in accepted[0]
        assert all(r.endswith("(relaxation level 5)") for r in accepted[1:])
        assert details["accepted"] == 18 and used == {"Car": 18, "Pedestrian": 18, "Cyclist": 0}
        assert details["relax_level"] == CalConfig().max_relax_steps + 1
        assert all(r.startswith("no reliable confident box of a class with an open quota") for r in tail)
    elif case == "all quotas full at once":
        # One frame fills every quota (3 >= 1/3 + 1) and its expected cost (9 boxes) passes 2 x the budget.
        assert details["accepted"] == 1 and details["relax_level"] == 0
        assert all(used[c] == 3 >= quotas[c] for c in CLASSES)
        assert all(r.startswith("after the cascade (accepted frames reached 2 x the budget)") for r in tail)
    elif case == "one class":
        # 2 x 50 frames accepted (the selection multiple), the car quota (51) full, only after relaxing.
        assert details["accepted"] == 100 and used["Car"] >= quotas["Car"] == pytest.approx(51)
        assert 0 < details["relax_level"] <= CalConfig().max_relax_steps
        assert all(r.startswith("after the cascade") for r in tail)
    else:
        assert details["accepted"] == 0 and details["relax_level"] == CalConfig().max_relax_steps + 1
        assert all(r.startswith("no predicted box") for r in ranking.reasons)


def test_a_frame_too_similar_to_an_accepted_one_waits_behind_a_different_one():
    outputs = PoolOutputs.from_frames(CLASSES, [
        ("a", frame([car(10)], [0.5], [1], [[1, 0, 0, 0]])),
        ("a_again", frame([car(10)], [0.5], [1], [[1, 0, 0, 0]])),
        ("b", frame([car(10)], [0.8], [1], [[0, 1, 0, 0]])),
    ])
    ledger = Ledger.create("kitti", "train", CLASSES, outputs.frame_ids)
    ranking = get_strategy("cal").rank(outputs, ledger.view(), Budget(20), np.random.default_rng(0))
    assert ranking.frame_ids[1] == "b"  # lower uncertainty, but different
    assert ranking.frame_ids[2] in ("a", "a_again")
    # its twin passes only once delta has relaxed all the way (0.9 + 5 x 0.02 = 1.0)
    assert ranking.reasons[2].endswith("(relaxation level 5)")
    assert ranking.similarity[2] == pytest.approx(1.0, abs=1e-5)


def test_a_full_quota_divides_that_class_entropy_by_five_once():
    cars = [(f"car{i}", frame([car(10)], [0.5], [1], [[1, i, 0, 0]])) for i in range(6)]
    peds = [(f"ped{i}", frame([car(10)], [0.8], [2], [[0, i, 1, 0]])) for i in range(6)]
    outputs = PoolOutputs.from_frames(CLASSES, cars + peds)
    ledger = Ledger.create("kitti", "train", CLASSES, outputs.frame_ids)
    config = ActiveConfig(cal=CalConfig(class_weights=[0.3, 1.35, 1.35], diversity_threshold=1.0))
    ranking = get_strategy("cal", config).rank(outputs, ledger.view(), Budget(10), np.random.default_rng(0))
    # Car quota = 0.3 * 10 / 3 + 1 = 2: two uncertain car frames, then pedestrians before the other cars
    assert [f[:3] for f in ranking.frame_ids[:8]] == ["car", "car"] + ["ped"] * 6
    entropy_05 = 1.0
    tail_cars = [u for f, u in zip(ranking.frame_ids, ranking.uncertainty) if f.startswith("car")][2:]
    assert tail_cars == pytest.approx([entropy_05 / 5] * 4)  # not 1/25, 1/125, ... as in the original
    assert ranking.details["quota_used"]["Car"] == 2


def test_fusion_replaces_appends_and_marks_reliable_boxes():
    own = PoolOutputs.from_frames(CLASSES, [
        ("f", frame([car(10), car(50), car(80)], [0.6, 0.4, 0.5], [1, 1, 1])),
        ("only_partner", frame(np.zeros((0, 7)), [], [])),
    ])
    partner = PoolOutputs.from_frames(CLASSES, [
        ("only_partner", frame([car(10)], [0.9], [2])),
        ("f", frame([car(10.2), car(30), car(60), car(51.5)], [0.9, 0.85, 0.7, 0.3], [2, 3, 3, 1])),
    ])
    fused = fuse(own, np.array([0, 1]), partner, partner.positions(["f", "only_partner"]), CalConfig())
    assert fused.offsets.tolist() == [0, 4, 5]
    # own box 0 replaced by the higher-scoring matched partner box (its label too), partner box at x=30 appended
    np.testing.assert_allclose(fused.scores[:4], [0.9, 0.4, 0.5, 0.85])
    assert fused.labels[:4].tolist() == [2, 1, 1, 3]
    # x=50 is confirmed by the weak partner box at x=51.5 (BEV IoU ~0.45 > 0.2), x=80 by nothing
    assert fused.reliable[:4].tolist() == [True, True, False, True]
    assert fused.from_partner.tolist() == [True, False, False, True, True]
    assert fused.scores[4] == pytest.approx(0.9)  # the own model saw nothing; the partner's sure box counts


def test_partner_predictions_for_another_pool_are_refused_with_a_count():
    own = PoolOutputs.from_frames(CLASSES, [(f"{i}", frame([car(10)], [0.5], [1])) for i in range(5)])
    partner = PoolOutputs.from_frames(CLASSES, [(f"{i}", frame([car(10)], [0.5], [1])) for i in range(3)])
    partner.source = "partner_outputs"
    ledger = Ledger.create("kitti", "train", CLASSES, own.frame_ids)
    with pytest.raises(Exception, match="partner_outputs: 2 of 5 unlabelled frames have no predictions here"):
        get_strategy("cal").rank(own, ledger.view(), Budget(5), np.random.default_rng(0), partner=partner)


def test_class_weights_must_match_the_classes():
    own = PoolOutputs.from_frames(CLASSES, [("a", frame([car(10)], [0.5], [1]))])
    ledger = Ledger.create("kitti", "train", CLASSES, own.frame_ids)
    config = ActiveConfig(cal=CalConfig(class_weights=[1.0, 2.0]))
    with pytest.raises(Exception, match=r"active.cal.class_weights: 2 weights for 3 classes"):
        get_strategy("cal", config).rank(own, ledger.view(), Budget(5), np.random.default_rng(0))
