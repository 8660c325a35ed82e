"""The KITTI protocol case by case, on hand-built frames whose AP follows on paper.

Most cases use N frames with one car each (2-D box 50 px high, unoccluded, untruncated). With at least 80
valid objects the recall sampling reaches every one of the 41 slots, so AP reads as plain precision; with
fewer, the devkit's n/40 behaviour shows (tested explicitly below).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ssal.data.kitti_label import KittiLabels
from ssal.errors import SsalError
from ssal.eval import evaluate_kitti, format_kitti_table

CAR = dict(name="Car", bbox=(600.0, 150.0, 700.0, 200.0), loc=(0.0, 1.7, 20.0), dims=(4.0, 1.5, 1.6), ry=0.0)


def labels(*objects: dict, scored: bool = False) -> KittiLabels:
    """One frame from object dicts (keys: name, bbox, loc, dims (l, h, w), ry, alpha, occ, trunc, score)."""
    rows = [{"alpha": o.get("ry", 0.0), "occ": 0, "trunc": 0.0, "score": 1.0, **o} for o in objects]

    def column(key: str, shape: tuple | None = None) -> np.ndarray:
        return np.array([r[key] for r in rows], dtype=float).reshape(shape or (len(rows),))

    return KittiLabels(
        name=np.array([r["name"] for r in rows], dtype="<U16"), truncated=column("trunc"),
        occluded=column("occ").astype(np.int64), alpha=column("alpha"), bbox=column("bbox", (len(rows), 4)),
        dimensions=column("dims", (len(rows), 3)), location=column("loc", (len(rows), 3)), rotation_y=column("ry"),
        score=column("score") if scored else None,
    )


def dontcare(bbox) -> dict:
    return dict(name="DontCare", bbox=bbox, loc=(-1000.0, -1000.0, -1000.0), dims=(-1.0, -1.0, -1.0), ry=-10.0,
                alpha=-10.0, occ=-1, trunc=-1.0)


def one_car_per_frame(n: int, **changes) -> list[KittiLabels]:
    return [labels({**CAR, **changes}) for _ in range(n)]


def detections(n: int, **changes) -> list[KittiLabels]:
    return [labels({**CAR, **changes}, scored=True) for _ in range(n)]


def car(result: dict, metric: str, setting: str = "R40") -> list[float]:
    return result["Car"][metric][setting]


def test_perfect_detections_score_100_everywhere():
    result = evaluate_kitti(one_car_per_frame(80), detections(80), classes=["Car"])
    for metric in ("2d", "bev", "3d", "aos"):
        assert car(result, metric) == pytest.approx([100, 100, 100])
        assert car(result, metric, "R11") == pytest.approx([100, 100, 100])
    assert result["mean"]["3d"]["R40"] == pytest.approx([100, 100, 100])
    assert result["loose"]["Car"]["3d"]["R40"] == pytest.approx([100, 100, 100])


@pytest.mark.parametrize("n, r40, r11", [
    (1, 0.0, 100 / 11), (8, 17.5, 200 / 11), (40, 97.5, 1000 / 11), (80, 100, 100),
])
def test_fewer_than_40_ground_truth_cap_perfect_detections_near_n_over_40(n, r40, r11):
    # Thresholds are sampled at recall steps of 1/40: n perfect detections fill n (of 41) slots, and R40
    # averages slots 1..40, so it reads (n - 1) / 40 below 40 objects.
    result = evaluate_kitti(one_car_per_frame(n), detections(n), classes=["Car"])
    assert car(result, "3d") == pytest.approx([r40] * 3)
    assert car(result, "3d", "R11") == pytest.approx([r11] * 3)


def test_missing_half_the_objects_halves_r40():
    preds = detections(40) + [labels(scored=True) for _ in range(40)]
    result = evaluate_kitti(one_car_per_frame(80), preds, classes=["Car"])
    # Recall stops at 0.5: 21 of the 41 slots (0..20) hold precision 1.
    assert car(result, "3d") == pytest.approx([50.0] * 3)
    assert car(result, "3d", "R11") == pytest.approx([600 / 11] * 3)


def test_a_duplicate_is_a_false_positive():
    preds = [labels({**CAR, "score": 0.9}, {**CAR, "score": 0.9}, scored=True) for _ in range(80)]
    result = evaluate_kitti(one_car_per_frame(80), preds, classes=["Car"])
    # At every threshold each car has one true positive and one duplicate: precision 1/2.
    for metric in ("2d", "bev", "3d"):
        assert car(result, metric) == pytest.approx([50.0] * 3)


def test_wrong_orientation_lowers_aos_only():
    preds = detections(80, ry=math.pi, alpha=math.pi)  # turned around: the same box, facing backwards
    result = evaluate_kitti(one_car_per_frame(80), preds, classes=["Car"])
    assert car(result, "3d") == pytest.approx([100.0] * 3)
    assert car(result, "2d") == pytest.approx([100.0] * 3)
    assert car(result, "aos") == pytest.approx([0.0] * 3, abs=1e-9)
    half = detections(40) + detections(40, ry=math.pi, alpha=math.pi / 2)  # (1 + cos(pi/2)) / 2 = 0.5
    result = evaluate_kitti(one_car_per_frame(80), half, classes=["Car"])
    assert car(result, "aos") == pytest.approx([75.0] * 3)


def test_aos_is_left_out_when_detections_carry_no_orientation():
    result = evaluate_kitti(one_car_per_frame(80), detections(80, alpha=-10.0), classes=["Car"])
    assert "aos" not in result["Car"] and car(result, "3d") == pytest.approx([100.0] * 3)


def test_a_detected_van_is_neither_true_nor_false_positive_for_car():
    gt = one_car_per_frame(80) + one_car_per_frame(80, name="Van")
    preds = detections(80, score=0.5) + detections(80, score=0.9)  # the vans detected as cars, scoring higher
    assert car(evaluate_kitti(gt, preds, classes=["Car"]), "3d") == pytest.approx([100.0] * 3)
    # A truck has no such protection: its "car" detections are false positives.
    gt = one_car_per_frame(80) + one_car_per_frame(80, name="Truck")
    assert car(evaluate_kitti(gt, preds, classes=["Car"]), "3d") == pytest.approx([50.0] * 3)


def test_person_sitting_is_ignored_for_pedestrian():
    ped = dict(name="Pedestrian", dims=(0.8, 1.75, 0.6))
    gt = one_car_per_frame(80, **ped) + one_car_per_frame(80, **{**ped, "name": "Person_sitting"})
    preds = detections(80, **ped, score=0.5) + detections(80, **ped, score=0.9)
    result = evaluate_kitti(gt, preds, classes=["Pedestrian"])
    assert result["Pedestrian"]["3d"]["R40"] == pytest.approx([100.0] * 3)


def test_dontcare_regions_absorb_unmatched_detections_in_2d_only():
    region, inside = (100.0, 150.0, 300.0, 250.0), (120.0, 160.0, 200.0, 220.0)
    gt = [labels(CAR, dontcare(region)) for _ in range(80)]
    stray = {**CAR, "bbox": inside, "loc": (-10.0, 1.7, 30.0), "score": 0.9}
    preds = [labels({**CAR, "score": 0.5}, stray, scored=True) for _ in range(80)]
    result = evaluate_kitti(gt, preds, classes=["Car"])
    assert car(result, "2d") == pytest.approx([100.0] * 3)
    # KITTI's DontCare labels have no 3-D box (-1 sizes), so in BEV and 3-D the stray boxes stay false positives.
    assert car(result, "bev") == pytest.approx([50.0] * 3)
    assert car(result, "3d") == pytest.approx([50.0] * 3)


@pytest.mark.parametrize("region_left, expected", [(144.0, 50.0), (143.0, 100.0)])
def test_dontcare_must_cover_more_than_the_class_overlap(region_left, expected):
    # The stray box spans x 120..200; a region from x = 144 covers exactly 70 % of it (not more than Car's 0.7).
    gt = [labels(CAR, dontcare((region_left, 150.0, 300.0, 250.0))) for _ in range(80)]
    stray = {**CAR, "bbox": (120.0, 160.0, 200.0, 220.0), "loc": (-10.0, 1.7, 30.0), "score": 0.9}
    preds = [labels({**CAR, "score": 0.5}, stray, scored=True) for _ in range(80)]
    assert car(evaluate_kitti(gt, preds, classes=["Car"]), "2d") == pytest.approx([expected] * 3)


@pytest.mark.parametrize("change, expected", [
    (dict(bbox=(600.0, 150.0, 700.0, 190.0)), [100, 100, 100]),      # exactly 40 px: Easy
    (dict(bbox=(600.0, 150.0, 700.0, 189.99)), [0, 100, 100]),       # just under 40 px: Moderate
    (dict(bbox=(600.0, 150.0, 700.0, 175.0)), [0, 100, 100]),        # exactly 25 px: Moderate
    (dict(bbox=(600.0, 150.0, 700.0, 174.99)), [0, 0, 0]),           # just under 25 px: never
    (dict(occ=1), [0, 100, 100]),
    (dict(occ=2), [0, 0, 100]),
    (dict(occ=3), [0, 0, 0]),
    (dict(trunc=0.15), [100, 100, 100]),                             # limits are inclusive
    (dict(trunc=0.1500001), [0, 100, 100]),
    (dict(trunc=0.30), [0, 100, 100]),
    (dict(trunc=0.3000001), [0, 0, 100]),
    (dict(trunc=0.50), [0, 0, 100]),
    (dict(trunc=0.5000001), [0, 0, 0]),
])
def test_difficulty_boundaries(change, expected):
    result = evaluate_kitti(one_car_per_frame(80, **change), detections(80, **change), classes=["Car"])
    assert car(result, "3d") == pytest.approx(expected)


def test_detections_shorter_than_the_minimum_height_are_ignored():
    # A 39.5 px detection of a 40.5 px car: too short for Easy (neither true nor false positive; the car is
    # taken by it, so it is not missed either), fine for Moderate.
    gt = one_car_per_frame(80, bbox=(600.0, 150.0, 700.0, 190.5))
    preds = detections(80, bbox=(600.0, 150.5, 700.0, 190.0))
    assert car(evaluate_kitti(gt, preds, classes=["Car"]), "2d") == pytest.approx([0.0, 100.0, 100.0])
    # Short stray detections, even scoring high, never count as false positives.
    stray = {**CAR, "bbox": (100.0, 150.0, 150.0, 170.0), "loc": (-10.0, 1.7, 30.0), "score": 0.99}
    preds = [labels({**CAR, "score": 0.5}, stray, scored=True) for _ in range(80)]
    assert car(evaluate_kitti(one_car_per_frame(80), preds, classes=["Car"]), "3d") == pytest.approx([100.0] * 3)


def test_detections_of_other_classes_do_not_count():
    walker = {**CAR, "name": "Pedestrian", "loc": (-10.0, 1.7, 30.0), "bbox": (100.0, 150.0, 150.0, 230.0)}
    preds = [labels({**CAR, "score": 0.5}, {**walker, "score": 0.9}, scored=True) for _ in range(80)]
    result = evaluate_kitti(one_car_per_frame(80), preds, classes=["Car", "Pedestrian"])
    assert car(result, "3d") == pytest.approx([100.0] * 3)
    assert result["Pedestrian"]["3d"]["R40"] == pytest.approx([0.0] * 3)
    assert result["mean"]["3d"]["R40"] == pytest.approx([50.0] * 3)


def test_overlap_must_exceed_the_threshold_strict_and_loose():
    # Shifted 1 m along its 4 m length: BEV and 3-D IoU = 3*1.6 / (2*6.4 - 3*1.6) = 0.6.
    result = evaluate_kitti(one_car_per_frame(80), detections(80, loc=(1.0, 1.7, 20.0)), classes=["Car"])
    assert car(result, "2d") == pytest.approx([100.0] * 3)
    assert car(result, "3d") == pytest.approx([0.0] * 3) and car(result, "bev") == pytest.approx([0.0] * 3)
    assert result["loose"]["Car"]["3d"]["R40"] == pytest.approx([100.0] * 3)  # loose Car threshold: 0.5


def test_3d_overlap_uses_the_vertical_extent():
    # Raised by half its height (camera y points down): BEV unchanged, 3-D IoU = 0.75 / 1.25 = 0.6.
    result = evaluate_kitti(one_car_per_frame(80), detections(80, loc=(0.0, 1.7 - 0.75, 20.0)), classes=["Car"])
    assert car(result, "bev") == pytest.approx([100.0] * 3)
    assert car(result, "3d") == pytest.approx([0.0] * 3)


def test_angles_outside_pi_give_the_same_boxes():
    turned = detections(80, ry=2 * math.pi + 0.3, alpha=-2 * math.pi + 0.3)
    same = detections(80, ry=0.3, alpha=0.3)
    gt = one_car_per_frame(80, ry=0.3, alpha=0.3)
    a, b = evaluate_kitti(gt, turned, classes=["Car"]), evaluate_kitti(gt, same, classes=["Car"])
    for metric in ("2d", "bev", "3d", "aos"):
        assert car(a, metric) == pytest.approx(car(b, metric)) == [100.0] * 3


def test_no_detections_at_all_and_no_frames():
    result = evaluate_kitti(one_car_per_frame(3), [labels(scored=True)] * 3)
    assert result["Car"]["3d"]["R40"] == [0.0, 0.0, 0.0]
    assert evaluate_kitti([], [])["mean"]["2d"]["R11"] == [0.0, 0.0, 0.0]


def test_format_table_lists_every_class_metric_and_the_loose_table():
    text = format_kitti_table(evaluate_kitti(one_car_per_frame(8), detections(8)))
    assert "Car" in text and "Cyclist" in text and "mean" in text and "loose" in text
    assert "17.50" in text  # Car 3-D R40 of 8 perfect detections


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(SsalError, match="2 ground truth frames but 1 prediction"):
        evaluate_kitti(one_car_per_frame(2), detections(1))
    with pytest.raises(SsalError, match=r"pred\[0\]: detections need a score"):
        evaluate_kitti(one_car_per_frame(1), one_car_per_frame(1))
    with pytest.raises(SsalError, match="classes: cannot evaluate Bus"):
        evaluate_kitti(one_car_per_frame(1), detections(1), classes=["Car", "Bus"])
    with pytest.raises(SsalError, match=r"gt\[0\]: object 0 has a negative box size"):
        evaluate_kitti(one_car_per_frame(1, dims=(4.0, -1.5, 1.6)), detections(1))
