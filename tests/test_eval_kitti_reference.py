"""The vectorised KITTI evaluation against a plain reference: the devkit's procedure written out loop by loop
(frame by frame, ground truth by ground truth, threshold by threshold), with shapely polygons for the
rotated overlaps. Random crowded frames exercise what hand-built cases rarely reach: detections overlapping
several ground truth, ties in score and overlap, too-short detections of other classes taking a match,
DontCare regions over objects, heights and truncations exactly at the limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import Polygon  # a dev dependency: a missing shapely must fail here, never skip

from ssal.data.kitti_label import KittiLabels
from ssal.eval import evaluate_kitti

MIN_HEIGHT, MAX_OCC, MAX_TRUNC = (40, 25, 25), (0, 1, 2), (0.15, 0.3, 0.5)
THRESHOLD = {"car": 0.7, "pedestrian": 0.5, "cyclist": 0.5}
SIZES = {"Car": (3.9, 1.5, 1.6), "Van": (5.0, 2.2, 1.9), "Pedestrian": (0.8, 1.75, 0.6),
         "Person_sitting": (0.8, 1.2, 0.6), "Cyclist": (1.8, 1.7, 0.6), "Truck": (10.0, 3.2, 2.5)}


# ----------------------------------------------------------------------------------------------- reference
def ground_polygon(box) -> Polygon:
    x, _, z, l, _, w, ry = box
    c, s = math.cos(ry), math.sin(ry)
    corners = [(l / 2, w / 2), (l / 2, -w / 2), (-l / 2, -w / 2), (-l / 2, w / 2)]
    return Polygon([(x + c * a + s * b, z - s * a + c * b) for a, b in corners])


def overlap(metric, det_bbox, det_box, gt_bbox, gt_box, over_det=False) -> float:
    if metric == "2d":
        w = min(det_bbox[2], gt_bbox[2]) - max(det_bbox[0], gt_bbox[0])
        h = min(det_bbox[3], gt_bbox[3]) - max(det_bbox[1], gt_bbox[1])
        if w <= 0 or h <= 0:
            return 0.0
        area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
        return w * h / (area(det_bbox) if over_det else area(det_bbox) + area(gt_bbox) - w * h)
    if min(gt_box[3:6]) <= 0:
        return 0.0  # a DontCare region without a 3-D box
    inter = ground_polygon(det_box).intersection(ground_polygon(gt_box)).area
    det_size, gt_size = det_box[3] * det_box[5], gt_box[3] * gt_box[5]
    if metric == "3d":
        inter *= max(0.0, min(det_box[1], gt_box[1]) - max(det_box[1] - det_box[4], gt_box[1] - gt_box[4]))
        det_size, gt_size = det_size * det_box[4], gt_size * gt_box[4]
    return inter / (det_size if over_det else det_size + gt_size - inter)


def states(gt: KittiLabels, det: KittiLabels, cls: str, d: int):
    gt_state = []
    for i, name in enumerate(np.char.lower(gt.name.astype(str))):
        valid = 1 if name == cls else 0 if (cls, name) in (("car", "van"), ("pedestrian", "person_sitting")) else -1
        height = gt.bbox[i, 3] - gt.bbox[i, 1]
        fails = gt.occluded[i] > MAX_OCC[d] or gt.truncated[i] > MAX_TRUNC[d] or height < MIN_HEIGHT[d]
        gt_state.append(0 if valid == 1 and not fails else 1 if valid == 0 or (fails and valid == 1) else -1)
    det_state = []
    for j, name in enumerate(np.char.lower(det.name.astype(str))):
        det_state.append(1 if int(abs(det.bbox[j, 1] - det.bbox[j, 3])) < MIN_HEIGHT[d] else 0 if name == cls else -1)
    return gt_state, det_state


def frame_statistics(gt, det, gt_state, det_state, metric, cls, threshold=None):
    """One frame: (tp, fp, similarity, tp scores); ``threshold`` None is the recall-score pass."""
    limit = THRESHOLD[cls]
    gt_boxes, det_boxes = gt.camera_boxes(), det.camera_boxes()
    taken = [False] * len(det)
    below = [threshold is not None and det.score[j] < threshold for j in range(len(det))]
    tp, scores, similarity = 0, [], 0.0
    for i in range(len(gt)):
        if gt_state[i] == -1:
            continue
        best, best_value, best_overlap, best_is_short = -1, None, 0.0, False
        for j in range(len(det)):
            if det_state[j] == -1 or taken[j] or below[j]:
                continue
            o = overlap(metric, det.bbox[j], det_boxes[j], gt.bbox[i], gt_boxes[i])
            if o <= limit:
                continue
            if threshold is None:
                if best_value is None or det.score[j] > best_value:
                    best, best_value = j, det.score[j]
            elif det_state[j] == 0 and (o > best_overlap or best_is_short):
                best, best_value, best_overlap, best_is_short = j, 1, o, False
            elif det_state[j] == 1 and best_value is None:
                best, best_value, best_is_short = j, 1, True
        if best < 0:
            continue
        taken[best] = True
        if gt_state[i] == 0 and det_state[best] == 0:
            tp += 1
            scores.append(det.score[best])
            similarity += (1 + math.cos(gt.alpha[i] - det.alpha[best])) / 2
    fp = 0
    for j in range(len(det)):
        if taken[j] or det_state[j] != 0 or below[j]:
            continue
        regions = [i for i in range(len(gt)) if gt.name[i] == "DontCare"]
        if not any(overlap(metric, det.bbox[j], det_boxes[j], gt.bbox[i], gt_boxes[i], True) > limit for i in regions):
            fp += 1
    return tp, fp, similarity, scores


def reference_ap(gts, dets, cls, d, metric):
    """({"R11": .., "R40": ..} of AP, the same of AOS) for one class, difficulty and metric."""
    per_frame = [states(g, p, cls, d) for g, p in zip(gts, dets)]
    n_valid = sum(s[0].count(0) for s in per_frame)
    scores = sorted((s for (g, p), (gs, ds) in zip(zip(gts, dets), per_frame)
                     for s in frame_statistics(g, p, gs, ds, metric, cls)[3]), reverse=True)
    thresholds, current = [], 0.0
    for i, score in enumerate(scores):
        left = (i + 1) / n_valid
        right = (i + 2) / n_valid if i < len(scores) - 1 else left
        if right - current < current - left and i < len(scores) - 1:
            continue
        thresholds.append(score)
        current += 1 / 40
    precision, aos = [0.0] * 41, [0.0] * 41
    for t, threshold in enumerate(thresholds):
        tp = fp = similarity = 0
        for (g, p), (gs, ds) in zip(zip(gts, dets), per_frame):
            a, b, c, _ = frame_statistics(g, p, gs, ds, metric, cls, threshold)
            tp, fp, similarity = tp + a, fp + b, similarity + c
        precision[t] = tp / (tp + fp) if tp + fp else 0.0
        aos[t] = similarity / (tp + fp) if tp + fp else 0.0
    precision = [max(precision[t:]) for t in range(41)]
    aos = [max(aos[t:]) for t in range(41)]
    average = lambda curve: {"R11": sum(curve[0::4]) / 11 * 100, "R40": sum(curve[1:]) / 40 * 100}  # noqa: E731
    return average(precision), average(aos)


# ----------------------------------------------------------------------------------------------- scenes
def crowded_frame(rng: np.random.Generator) -> tuple[KittiLabels, KittiLabels]:
    """Objects crowded around one spot (so boxes overlap), every edge case drawn now and then."""
    n = int(rng.integers(1, 9))
    names = rng.choice(list(SIZES), n, p=[0.4, 0.1, 0.2, 0.05, 0.2, 0.05])
    dims = np.array([SIZES[c] for c in names]) * rng.uniform(0.85, 1.15, (n, 3))
    centre = (rng.uniform(-5, 5), rng.uniform(10, 30))
    loc = np.stack((centre[0] + rng.normal(0, 2, n), rng.normal(1.7, 0.1, n), centre[1] + rng.normal(0, 3, n)), 1)
    ry = rng.uniform(-math.pi, math.pi, n)
    height = np.where(rng.random(n) < 0.3, rng.choice([40.0, 25.0, 39.99, 24.99], n), 721 * dims[:, 1] / loc[:, 2])
    u = 609 + 721 * loc[:, 0] / loc[:, 2] + rng.normal(0, 10, n)
    bottom = 180 + rng.uniform(0, 60, n)
    width = height * rng.uniform(0.5, 2.0, n)
    bbox = np.stack((u - width / 2, bottom - height, u + width / 2, bottom), 1)
    gt = KittiLabels(name=names.astype("<U16"), truncated=rng.choice([0.0, 0.15, 0.3, 0.5, 0.31, 0.8], n),
                     occluded=rng.integers(0, 4, n), alpha=ry - np.arctan2(loc[:, 0], loc[:, 2]), bbox=bbox,
                     dimensions=dims, location=loc, rotation_y=ry)
    k = int(rng.integers(0, 3))
    corner = bbox[rng.integers(0, n, k), :2] + rng.normal(0, 5, (k, 2))
    region_boxes = np.concatenate((corner, corner + rng.uniform(20, 90, (k, 2))), 1)
    regions = KittiLabels(name=np.full(k, "DontCare", "<U16"), truncated=-np.ones(k), occluded=-np.ones(k, int),
                          alpha=-10 * np.ones(k), bbox=region_boxes, dimensions=-np.ones((k, 3)),
                          location=-1000 * np.ones((k, 3)), rotation_y=-10 * np.ones(k))
    gt = concat(gt, regions)

    picks = np.repeat(np.arange(n), rng.integers(0, 3, n))  # missed, found, or found twice
    m = len(picks)
    det_names = np.where(rng.random(m) < 0.15, rng.choice(["Car", "Pedestrian", "Cyclist"], m), names[picks])
    det = KittiLabels(name=det_names.astype("<U16"), truncated=np.zeros(m), occluded=np.zeros(m, int),
                      alpha=gt.alpha[picks] + rng.normal(0, 0.5, m), bbox=bbox[picks] + rng.normal(0, 4, (m, 4)),
                      dimensions=dims[picks] * rng.uniform(0.9, 1.1, (m, 3)),
                      location=loc[picks] + rng.normal(0, 0.2, (m, 3)), rotation_y=ry[picks] + rng.normal(0, 0.2, m),
                      score=np.round(rng.random(m), 1))  # coarse scores: many ties
    return gt, det


def concat(a: KittiLabels, b: KittiLabels) -> KittiLabels:
    fields = ("name", "truncated", "occluded", "alpha", "bbox", "dimensions", "location", "rotation_y")
    return KittiLabels(*(np.concatenate((getattr(a, f), getattr(b, f))) for f in fields))


@pytest.mark.parametrize("seed", [0, 1])
def test_vectorised_evaluation_equals_the_loop_by_loop_procedure(seed):
    rng = np.random.default_rng(seed)
    frames = [crowded_frame(rng) for _ in range(30)]
    gts, dets = [f[0] for f in frames], [f[1] for f in frames]
    result = evaluate_kitti(gts, dets)
    checked = 0
    for label in ("Car", "Pedestrian", "Cyclist"):
        for metric in ("2d", "bev", "3d"):
            for d in range(3):
                ap, aos = reference_ap(gts, dets, label.lower(), d, metric)
                for setting in ("R11", "R40"):
                    assert result[label][metric][setting][d] == pytest.approx(ap[setting], abs=1e-9), (label, metric, d)
                    if metric == "2d":
                        assert result[label]["aos"][setting][d] == pytest.approx(aos[setting], abs=1e-9), (label, d)
                checked += ap["R40"] > 0
    assert checked >= 10  # the scenes produce real, non-zero APs to compare


def test_overlaps_computed_in_small_chunks_equal_one_pass():
    from ssal.eval.kitti_objects import flatten_labels
    from ssal.eval.kitti_overlaps import pair_overlaps

    rng = np.random.default_rng(3)
    frames = [crowded_frame(rng) for _ in range(20)]
    gt = flatten_labels([f[0] for f in frames], "gt", with_score=False)
    det = flatten_labels([f[1] for f in frames], "pred", with_score=True)
    whole, chunked = pair_overlaps(gt, det), pair_overlaps(gt, det, max_pairs=7)
    assert len(whole.gt) > 20
    np.testing.assert_array_equal(whole.gt, chunked.gt)
    np.testing.assert_array_equal(whole.det, chunked.det)
    for metric in ("2d", "bev", "3d"):
        np.testing.assert_allclose(whole.iou[metric], chunked.iou[metric], rtol=0, atol=1e-12)
