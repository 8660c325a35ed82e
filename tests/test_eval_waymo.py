"""Waymo AP/APH: perfect and turned-around detections, LEVEL_1/LEVEL_2, Hungarian matching, the AP integral,
and the cutoff-by-cutoff vectorisation against a plain per-frame, per-cutoff Hungarian reference whose precision,
recall, AP and heading accuracy are written out here, independently of ``ssal.eval``.

Values of Waymo's official metric come from the official code's own unit tests (waymo-research/waymo-open-dataset,
``waymo_open_dataset/metrics/metrics_utils_test.cc`` at commit 16c6a1a98fa8bb005fdfe798d27e6f3edf98c356 and
``detection_metrics_test.cc`` at 052f50fa666b62b4f4f3a441d50be74526866880), which assert them against
``metrics_utils.cc`` / ``detection_metrics.cc``. The metric itself could not be run here: its pip package
(waymo-open-dataset-tf-*) needs TensorFlow and an older Python than this environment's, and no network is at hand.
"""

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


# ------------------------------------------------------------------------------------- the reference, written out
CUTOFFS = [k / 100 for k in range(100)] + [1.0]  # Waymo's score cutoffs as OpenPCDet configures them


def reference_heading_accuracy(gt_heading: float, pred_heading: float) -> float:
    """1 for the same heading, 0 for opposite ones, linear in the smallest angle between them."""
    difference = abs(math.remainder(pred_heading - gt_heading, 2 * math.pi))  # in [0, pi]
    return 1.0 - difference / math.pi


def reference_precision_recall(tp: int, fp: int, fn: int, sum_ha: float | None = None) -> tuple[float, float]:
    """One cutoff: precision (heading-weighted with ``sum_ha``) and recall; precision is 1 where recall is 0."""
    recall = tp / (tp + fn) if tp + fn else 0.0
    if recall == 0:
        return 1.0, 0.0
    hits = tp if sum_ha is None else sum_ha
    return (hits / (tp + fp) if tp + fp else 0.0), recall


def reference_ap(points: list[tuple[float, float]], delta: float = 0.05) -> float:
    """Area under (precision, recall) points the way Waymo integrates them: the best precision per recall, a
    point (recall 0, precision 1) added; from the highest recall down, precision is the best seen so far; gaps in
    recall wider than ``delta`` get a point every ``delta``; the recall-0 point then takes its neighbour's
    precision; trapezoids between consecutive points."""
    best = {0.0: 1.0}
    for precision, recall in points:
        best[recall] = max(best.get(recall, 0.0), precision)
    walk: list[tuple[float, float]] = []  # (recall, precision), recall falling
    running = 0.0
    for recall in sorted(best, reverse=True):
        while walk and walk[-1][0] - recall > delta + 1e-6:
            walk.append((walk[-1][0] - delta, running))
        running = max(running, best[recall])
        walk.append((recall, running))
    if len(walk) < 2:
        return 0.0
    walk[-1] = (0.0, walk[-2][1])
    return sum((r0 - r1) * (p0 + p1) / 2 for (r0, p0), (r1, p1) in zip(walk, walk[1:]))


def test_the_reference_and_ssal_give_the_official_metrics_own_test_values():
    # metrics_utils_test.cc, TEST(MetricsUtilsTest, ComputeMeanAveragePrecision): (precisions, recalls, delta, AP)
    cases = [([0.1], [0.2], 0.05, 0.2 * 0.1),
             ([0.1, 0.05], [0.2, 1.0], 0.05, 0.05 * 0.8 + 0.1 * 0.2 + (0.1 - 0.05) * 0.5 * 0.05),
             ([0.1, 0.05], [0.2, 1.0], 1.0, 0.2 * 0.1 + 0.5 * (0.1 + 0.05) * 0.8),
             ([0.1, 0.0, 0.05], [0.2, 0.4, 1.0], 0.05, 0.05 * 0.8 + 0.1 * 0.2 + (0.1 - 0.05) * 0.5 * 0.05)]
    for precisions, recalls, delta, official in cases:
        assert reference_ap(list(zip(precisions, recalls)), delta) == pytest.approx(official, abs=1e-6)
        assert mean_average_precision(np.array(precisions), np.array(recalls), delta) == pytest.approx(official,
                                                                                                      abs=1e-6)
    assert mean_average_precision(np.array([]), np.array([])) == 0.0
    # TEST(MetricsUtilsTest, ComputeHeadingAccuracy): (ground truth heading, predicted heading, accuracy)
    for gt_heading, pred_heading, official in [(0.1, -0.1, 1 - 0.2 / math.pi),
                                               (math.pi - 0.1, -math.pi + 0.1, 1 - 0.2 / math.pi),
                                               (math.pi, 0.0, 0.0)]:
        assert reference_heading_accuracy(gt_heading, pred_heading) == pytest.approx(official, abs=1e-6)
        assert heading_accuracy(np.array([gt_heading]), np.array([pred_heading]))[0] == pytest.approx(official,
                                                                                                      abs=1e-6)


def test_evaluate_waymo_gives_the_official_one_shard_case():
    """detection_metrics_test.cc, TEST(DetectionMetricsTest, OneShard): a 100 x 1 x 1 m vehicle; predictions of
    length 90 (IoU 0.9, score 0) and 60 (IoU 0.6, score 0.5); IoU threshold 0.5 (the test's default config); two
    such frames. The official metric gives mAP 1.0 and APH 1.0 (p(r=1) = 0.5 and 1.0, p(r=0) = 1.0)."""
    def box(length):
        return [0.0, 0.0, 0.0, length, 1.0, 1.0, 0.0]

    gt = {"boxes": np.array([box(100.0)]), "names": np.array(["Vehicle"]), "num_points": np.array([100])}
    pred = {"boxes": np.array([box(90.0), box(60.0)]), "scores": np.array([0.0, 0.5]),
            "names": np.array(["Vehicle", "Vehicle"])}
    result = evaluate_waymo([gt, gt], [pred, pred], classes=["Vehicle"], iou_thresholds={"Vehicle": 0.5})
    assert result["Vehicle"]["LEVEL_2"]["AP"] == pytest.approx(100.0, abs=1e-4)
    assert result["Vehicle"]["LEVEL_2"]["APH"] == pytest.approx(100.0, abs=1e-4)
    # ... and one step further: at IoU 0.7 the 60 m prediction is a false positive wherever it is present
    strict = evaluate_waymo([gt, gt], [pred, pred], classes=["Vehicle"], iou_thresholds={"Vehicle": 0.7})
    # cutoff 0: TP 2, FP 2 (p 0.5, r 1); cutoffs 0.01..0.5: TP 0 (r 0, p 1); AP = 1 * 0.5 ... see reference_ap
    expected = reference_ap([(0.5, 1.0), (1.0, 0.0)])
    assert strict["Vehicle"]["LEVEL_2"]["AP"] == pytest.approx(100 * expected, abs=1e-4)


def reference_waymo(gt: list[dict], pred: list[dict], cls: str, threshold: float) -> dict:
    """Per frame and per cutoff: Hungarian matching on the full IoU matrix, counts summed, AP as Waymo."""
    cutoffs = len(CUTOFFS)
    tp, fp, ha, fn1, fn2 = (np.zeros(cutoffs) for _ in range(5))
    for g, p in zip(gt, pred):
        keep = (np.char.lower(g["names"].astype(str)) == cls) & (g["num_points"] > 0)
        gb, level = g["boxes"][keep], np.where(g["num_points"][keep] <= 5, 2, 1)
        mine = np.char.lower(p["names"].astype(str)) == cls
        pb, scores = p["boxes"][mine], p["scores"][mine].astype(np.float32)
        iou = boxes_iou3d(torch.from_numpy(pb), torch.from_numpy(gb)).numpy().astype(np.float32)
        for k, cutoff in enumerate(CUTOFFS):
            present = np.flatnonzero(scores >= np.float32(cutoff))
            sub = iou[present]
            rows, cols = linear_sum_assignment(np.where(sub >= np.float32(threshold), np.rint(sub * 1e6), 0),
                                               maximize=True) if sub.size else ([], [])
            hits = [(r, c) for r, c in zip(rows, cols) if sub[r, c] >= np.float32(threshold)]
            tp[k] += len(hits)
            fp[k] += len(present) - len(hits)
            ha[k] += sum(reference_heading_accuracy(gb[c, 6], pb[present[r], 6]) for r, c in hits)
            matched = np.zeros(len(gb), bool)
            matched[[c for _, c in hits]] = True
            fn1[k] += np.count_nonzero(~matched & (level == 1))
            fn2[k] += np.count_nonzero(~matched)
    out = {}
    for name, fn in (("LEVEL_1", fn1), ("LEVEL_2", fn2)):
        plain = [reference_precision_recall(int(tp[k]), int(fp[k]), int(fn[k])) for k in range(cutoffs)]
        weighted = [reference_precision_recall(int(tp[k]), int(fp[k]), int(fn[k]), ha[k]) for k in range(cutoffs)]
        out[name] = {"AP": 100 * reference_ap(plain), "APH": 100 * reference_ap(weighted)}
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
