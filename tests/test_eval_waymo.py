"""Waymo AP/APH: perfect and turned-around detections, LEVEL_1/LEVEL_2, Hungarian matching, the AP integral,
and the cutoff-by-cutoff vectorisation against a plain per-frame, per-cutoff Hungarian reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from ssal.errors import SsalError
from ssal.eval import evaluate_waymo
from ssal.eval.waymo import heading_accuracy
from ssal.eval.waymo_ap import mean_average_precision, precision_recall
from ssal.eval.waymo_matching import SCORE_CUTOFFS
from ssal.geometry import boxes_iou3d

VEHICLE = (4.5, 2.0, 1.6)


def scene(rng: np.random.Generator, n: int, names=("Vehicle", "Pedestrian", "Cyclist")) -> dict:
    """n well separated boxes of random classes, each with 50 points."""
    centres = np.stack((np.arange(n) * 12.0, rng.uniform(-20, 20, n), rng.uniform(-1, 1, n)), axis=1)
    sizes = np.tile(VEHICLE, (n, 1)) * rng.uniform(0.5, 1.2, (n, 3))
    boxes = np.concatenate((centres, sizes, rng.uniform(-math.pi, math.pi, (n, 1))), axis=1)
    return {"boxes": boxes, "names": rng.choice(names, n), "num_points": np.full(n, 50)}


def detect(gt: dict, rng: np.random.Generator, **changes) -> dict:
    return {"boxes": gt["boxes"].copy(), "scores": rng.uniform(0.1, 1.0, len(gt["boxes"])), "names": gt["names"],
            **changes}


def test_perfect_detections_score_100_even_with_few_objects():
    rng = np.random.default_rng(0)
    gt = [scene(rng, 3) for _ in range(4)]  # 12 objects: no small-sample cap as in KITTI's R40
    result = evaluate_waymo(gt, [detect(g, rng) for g in gt])
    for name in ("Vehicle", "Pedestrian", "Cyclist", "mean"):
        for level in ("LEVEL_1", "LEVEL_2"):
            assert result[name][level]["AP"] == pytest.approx(100.0, abs=1e-4)
            assert result[name][level]["APH"] == pytest.approx(100.0, abs=1e-4)


def test_heading_turned_around_keeps_ap_and_zeroes_aph():
    rng = np.random.default_rng(1)
    gt = [scene(rng, 5) for _ in range(3)]
    turned = [detect(g, rng, boxes=g["boxes"] + [0, 0, 0, 0, 0, 0, math.pi]) for g in gt]
    result = evaluate_waymo(gt, turned)
    for level in ("LEVEL_1", "LEVEL_2"):
        assert result["mean"][level]["AP"] == pytest.approx(100.0, abs=1e-4)
        assert result["mean"][level]["APH"] == pytest.approx(0.0, abs=1e-4)


def test_heading_accuracy_wraps_around():
    assert heading_accuracy(np.array([0.0, 3.0, 0.1]), np.array([0.0, -3.0, 0.1 + 2 * math.pi])) == pytest.approx(
        [1.0, 1 - (2 * math.pi - 6.0) / math.pi, 1.0])
    assert heading_accuracy(np.array([0.5]), np.array([0.5 + math.pi / 2])) == pytest.approx([0.5])


def level_scene(points: list[int], difficulty: list[int] | None = None) -> dict:
    n = len(points)
    boxes = np.array([[i * 12.0, 0.0, 0.0, *VEHICLE, 0.0] for i in range(n)])
    return {"boxes": boxes, "names": np.array(["Vehicle"] * n), "num_points": np.array(points),
            "difficulty": np.array(difficulty if difficulty is not None else [0] * n)}


def test_level_2_holds_sparse_or_labelled_objects_which_level_1_does_not_miss():
    gt = level_scene([100, 100, 5, 40], difficulty=[0, 1, 0, 2])  # objects 2 (<= 5 points) and 3 are LEVEL_2
    found_level1 = {"boxes": gt["boxes"][:2], "scores": np.array([0.9, 0.8]), "names": gt["names"][:2]}
    result = evaluate_waymo([gt], [found_level1], classes=["Vehicle"])["Vehicle"]
    assert result["LEVEL_1"]["AP"] == pytest.approx(100.0, abs=1e-4)
    assert result["LEVEL_2"]["AP"] == pytest.approx(50.0, abs=1e-4)  # recall stops at 2/4, precision 1
    # Detecting the LEVEL_2 objects too is no false positive at LEVEL_1: they are true positives there as well.
    found_all = {"boxes": gt["boxes"], "scores": np.array([0.9, 0.8, 0.7, 0.6]), "names": gt["names"]}
    result = evaluate_waymo([gt], [found_all], classes=["Vehicle"])["Vehicle"]
    assert result["LEVEL_1"]["AP"] == pytest.approx(100.0, abs=1e-4)
    assert result["LEVEL_2"]["AP"] == pytest.approx(100.0, abs=1e-4)


def test_ground_truth_without_points_is_dropped():
    gt = level_scene([100, 0])
    found = {"boxes": gt["boxes"][:1], "scores": np.array([0.9]), "names": gt["names"][:1]}
    result = evaluate_waymo([gt], [found], classes=["Vehicle"])
    assert result["Vehicle"]["LEVEL_2"]["AP"] == pytest.approx(100, abs=1e-4)
    # ... so a detection on it is a false positive, as in OpenPCDet's evaluation.
    both = {"boxes": gt["boxes"], "scores": np.array([0.5, 0.9]), "names": gt["names"]}
    assert evaluate_waymo([gt], [both], classes=["Vehicle"])["Vehicle"]["LEVEL_2"]["AP"] < 100


def test_class_thresholds_and_class_separation():
    gt = level_scene([100])
    shifted = gt["boxes"] + [0.9, 0, 0, 0, 0, 0, 0]  # IoU (4.5 - 0.9) / (4.5 + 0.9) = 0.667
    pred = {"boxes": shifted, "scores": np.array([0.9]), "names": np.array(["Vehicle"])}
    assert evaluate_waymo([gt], [pred], classes=["Vehicle"])["Vehicle"]["LEVEL_1"]["AP"] == 0.0  # needs 0.7
    as_pedestrian = {**gt, "names": np.array(["Pedestrian"])}
    pred_pedestrian = {**pred, "names": np.array(["Pedestrian"])}
    result = evaluate_waymo([as_pedestrian], [pred_pedestrian], classes=["Pedestrian"])  # needs 0.5
    assert result["Pedestrian"]["LEVEL_1"]["AP"] == pytest.approx(100.0, abs=1e-4)
    wrong_class = {**pred, "boxes": gt["boxes"], "names": np.array(["Cyclist"])}
    assert evaluate_waymo([gt], [wrong_class], classes=["Vehicle"])["Vehicle"]["LEVEL_1"]["AP"] == 0.0


def test_matching_maximises_total_iou_not_score_order():
    # Along x: ground truth A = [0, 4], B = [1.5, 5.5]; P1 = [0.5, 4.5] (IoU 0.78 with A, 0.6 with B) scores
    # higher than P2 = [-0.5, 3.5] (0.78 with A, 0.33 with B: below the 0.35 threshold used here). Taking P1 for
    # A first would leave P2 unmatched; the Hungarian matching pairs P1-B and P2-A.
    def boxes(*spans):
        return np.array([[(a + b) / 2, 0.0, 0.0, b - a, 2.0, 1.6, 0.0] for a, b in spans])

    gt = {"boxes": boxes((0, 4), (1.5, 5.5)), "names": np.array(["Vehicle"] * 2), "num_points": np.array([50, 50])}
    pred = {"boxes": boxes((0.5, 4.5), (-0.5, 3.5)), "scores": np.array([0.9, 0.8]), "names": np.array(["Vehicle"] * 2)}
    result = evaluate_waymo([gt], [pred], classes=["Vehicle"], iou_thresholds={"Vehicle": 0.35})
    assert result["Vehicle"]["LEVEL_2"]["AP"] == pytest.approx(100.0, abs=1e-4)


def test_average_precision_integral():
    assert mean_average_precision(np.array([1.0]), np.array([1.0])) == pytest.approx(1.0)
    # Precision 1 up to recall 0.5, then 0.5 up to recall 1: 0.5 + 0.45 * 0.5 + one trapezoid step 0.05 * 0.75.
    assert mean_average_precision(np.array([1.0, 0.5]), np.array([0.5, 1.0])) == pytest.approx(0.7625, abs=1e-6)
    assert mean_average_precision(np.array([1.0]), np.array([0.0])) == 0.0
    precision, recall = precision_recall(np.array([0, 3]), np.array([0, 1]), np.array([4, 1]))
    assert precision.tolist() == [1.0, 0.75] and recall.tolist() == [0.0, 0.75]  # recall 0 -> precision 1


def reference_waymo(gt: list[dict], pred: list[dict], cls: str, threshold: float) -> dict:
    """Per frame and per cutoff: Hungarian matching on the full IoU matrix, counts summed, AP as Waymo."""
    cutoffs = len(SCORE_CUTOFFS)
    tp, fp, ha, fn1, fn2 = (np.zeros(cutoffs) for _ in range(5))
    for g, p in zip(gt, pred):
        keep = (np.char.lower(g["names"].astype(str)) == cls) & (g["num_points"] > 0)
        gb, level = g["boxes"][keep], np.where(g["num_points"][keep] <= 5, 2, 1)
        mine = np.char.lower(p["names"].astype(str)) == cls
        pb, scores = p["boxes"][mine], p["scores"][mine].astype(np.float32)
        iou = boxes_iou3d(torch.from_numpy(pb), torch.from_numpy(gb)).numpy().astype(np.float32)
        for k, cutoff in enumerate(SCORE_CUTOFFS):
            present = np.flatnonzero(scores >= cutoff)
            sub = iou[present]
            rows, cols = linear_sum_assignment(np.where(sub >= np.float32(threshold), np.rint(sub * 1e6), 0),
                                               maximize=True) if sub.size else ([], [])
            hits = [(r, c) for r, c in zip(rows, cols) if sub[r, c] >= np.float32(threshold)]
            tp[k] += len(hits)
            fp[k] += len(present) - len(hits)
            ha[k] += sum(heading_accuracy(gb[[c], 6], pb[[present[r]], 6])[0] for r, c in hits)
            matched = np.zeros(len(gb), bool)
            matched[[c for _, c in hits]] = True
            fn1[k] += np.count_nonzero(~matched & (level == 1))
            fn2[k] += np.count_nonzero(~matched)
    out = {}
    for name, fn in (("LEVEL_1", fn1), ("LEVEL_2", fn2)):
        precision, recall = precision_recall(tp.astype(int), fp.astype(int), fn.astype(int))
        precision_ha, _ = precision_recall(tp.astype(int), fp.astype(int), fn.astype(int), ha)
        out[name] = {"AP": 100 * mean_average_precision(precision, recall),
                     "APH": 100 * mean_average_precision(precision_ha, recall)}
    return out


def crowded(rng: np.random.Generator) -> tuple[dict, dict]:
    """Boxes packed along a line so that low thresholds give many competing matches."""
    n = int(rng.integers(1, 8))
    boxes = np.concatenate((np.stack((np.sort(rng.uniform(0, 12, n)), rng.normal(0, 0.5, n), np.zeros(n)), 1),
                            np.tile(VEHICLE, (n, 1)) * rng.uniform(0.8, 1.2, (n, 3)), rng.normal(0, 0.3, (n, 1))), 1)
    gt = {"boxes": boxes, "names": rng.choice(["Vehicle", "Cyclist"], n), "num_points": rng.integers(0, 12, n)}
    picks = rng.integers(0, n, int(rng.integers(0, 2 * n + 1)))
    moved = boxes[picks] + rng.normal(0, 0.6, (len(picks), 7)) * [1, 1, 0.2, 0.1, 0.1, 0.1, 1]
    pred = {"boxes": moved, "scores": np.round(rng.random(len(picks)), 2), "names": gt["names"][picks]}
    return gt, pred


@pytest.mark.parametrize("seed", [0, 1])
def test_vectorised_matching_equals_per_cutoff_hungarian(seed):
    rng = np.random.default_rng(seed)
    frames = [crowded(rng) for _ in range(25)]
    gt, pred = [f[0] for f in frames], [f[1] for f in frames]
    thresholds = {"Vehicle": 0.3, "Cyclist": 0.5}
    result = evaluate_waymo(gt, pred, classes=["Vehicle", "Cyclist"], iou_thresholds=thresholds)
    for name, threshold in thresholds.items():
        expected = reference_waymo(gt, pred, name.lower(), threshold)
        for level in ("LEVEL_1", "LEVEL_2"):
            assert result[name][level]["AP"] == pytest.approx(expected[level]["AP"], abs=1e-3), (name, level)
            assert result[name][level]["APH"] == pytest.approx(expected[level]["APH"], abs=1e-3), (name, level)
    assert 0 < result["Vehicle"]["LEVEL_2"]["AP"] < 100


def test_bad_frames_are_one_line_errors():
    gt = level_scene([10])
    pred = {"boxes": gt["boxes"], "scores": np.array([0.5]), "names": gt["names"]}
    with pytest.raises(SsalError, match=r"gt\[0\]: missing num_points"):
        evaluate_waymo([{k: v for k, v in gt.items() if k != "num_points"}], [pred])
    with pytest.raises(SsalError, match=r"pred\[0\].scores: has 2 entries for 1 boxes"):
        evaluate_waymo([gt], [{**pred, "scores": np.array([0.5, 0.6])}])
    with pytest.raises(SsalError, match="1 ground truth frames but 2 prediction frames"):
        evaluate_waymo([gt], [pred, pred])
    with pytest.raises(SsalError, match="no IoU threshold for class 'Tram'"):
        evaluate_waymo([gt], [pred], classes=["Tram"])
