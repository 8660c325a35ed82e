"""Waymo Open Dataset average precision from counts at score cutoffs, as its ``detection_metrics.cc`` and
``metrics_utils.cc`` compute it, in float32 like the original.

At every score cutoff: precision = TP / (TP + FP) (0 when there is no detection), recall = TP / (TP + FN) (0
when there is no ground truth), and precision is set to 1 wherever recall is 0. The heading-weighted variant
(APH) replaces TP by the sum of heading accuracies in the precision only. AP is then the area under the
precision/recall points, integrated from the highest recall down to 0 with the trapezoid rule after making
precision non-increasing in recall, and inserting points so that no recall step exceeds ``recall_delta``
(0.05); there is no extrapolation past the highest recall reached.
"""

from __future__ import annotations

import numpy as np

RECALL_DELTA = 0.05
_ERROR = np.float32(1e-6)


def precision_recall(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, sum_ha: np.ndarray | None = None):
    """Precision (C,) and recall (C,) float32 at C cutoffs from counts; with ``sum_ha`` the heading-weighted
    precision instead of the plain one."""
    tp32 = tp.astype(np.float32)
    detections = (tp + fp).astype(np.float32)
    truths = (tp + fn).astype(np.float32)
    numerator = tp32 if sum_ha is None else sum_ha.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(detections > 0, numerator / detections, np.float32(0)).astype(np.float32)
        recall = np.where(truths > 0, tp32 / truths, np.float32(0)).astype(np.float32)
    precision[recall == 0] = 1.0
    return precision, recall


def mean_average_precision(precision: np.ndarray, recall: np.ndarray, recall_delta: float = RECALL_DELTA) -> float:
    """AP in [0, 1] of precision/recall points (C,), with Waymo's recall-step interpolation."""
    if len(precision) == 0:
        return 0.0
    best = {np.float32(0.0): np.float32(1.0)}  # recall -> highest precision reached at that recall
    for p, r in zip(precision.astype(np.float32), recall.astype(np.float32)):
        best[r] = max(best.get(r, np.float32(0.0)), p)
    delta = np.float32(recall_delta)
    points = _descending_points(sorted(best.items()), delta)
    if len(points) < 2:  # no recall above 0: no area (Waymo's code reads out of bounds here)
        return 0.0
    points[-1] = (points[-2][0], points[-1][1])  # the recall-0 point takes the precision next to it
    area = np.float32(0.0)
    for (p0, r0), (p1, r1) in zip(points[:-1], points[1:]):
        area = np.float32(float(area) + 0.5 * float(np.float32(r0 - r1)) * float(np.float32(p0 + p1)))
    return float(area)


def _descending_points(ascending: list, delta: np.float32) -> list[tuple]:
    """(precision, recall) points from the highest recall down, precision as the running maximum from the
    right, with filler points every ``delta`` of recall across larger gaps."""
    points = []
    last_recall = ascending[0][0]
    max_precision = np.float32(0.0)
    for recall, precision in reversed(ascending):
        while np.float32(last_recall - recall) > np.float32(delta + _ERROR):
            last_recall = np.float32(last_recall - delta)
            points.append((max_precision, last_recall))
        max_precision = max(precision, max_precision)
        points.append((max_precision, recall))
        last_recall = recall
    return points
