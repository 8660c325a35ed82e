"""Waymo Open Dataset 3-D detection AP and APH at LEVEL_1 and LEVEL_2, following the dataset's own metric code
(``waymo_open_dataset/metrics``: ``detection_metrics.cc``, ``matcher.cc``, ``metrics_utils.cc``, ``iou.cc``) with
the configuration OpenPCDet evaluates with (OBJECT_TYPE breakdown, levels 1 and 2, Hungarian matcher, 3-D
boxes, score cutoffs 0, 0.01, ..., 0.99, 1, recall step 0.05).

    from ssal.eval import evaluate_waymo
    result = evaluate_waymo(gt_frames, pred_frames)
    result["Vehicle"]["LEVEL_2"]["APH"]                   # percent

Frames are mappings of arrays (numpy, or anything ``numpy.asarray`` takes):

* ground truth: ``boxes`` (N, 7) ``(x, y, z, dx, dy, dz, heading)`` centred, ``names`` (N,), ``num_points``
  (N,) LiDAR points inside, optional ``difficulty`` (N,) 0/1/2 (0 = unknown);
* predictions: ``boxes`` (M, 7), ``scores`` (M,), ``names`` (M,).

What is matched, precisely:

* per class and frame, ground truth with 0 points is dropped (as OpenPCDet does before calling the metric, so a
  prediction on it is a false positive); the rest is LEVEL_2 when labelled 2 or holding <= 5 points, else
  LEVEL_1;
* IoU is the rotated 3-D IoU (``ssal.geometry.boxes_iou3d``), 0 when a size is <= 0.01 m or >= 1e6 m, kept in
  float32; a pair can match when IoU >= the class threshold (Vehicle 0.7, Pedestrian 0.5, Cyclist 0.5,
  Sign 0.5);
* at each score cutoff the predictions with score >= cutoff are matched by the Hungarian algorithm on IoUs
  quantised to round(iou * 1e6) (``waymo_matching``); matching is done once over all ground truth of the class,
  and both levels are read from it: a matched prediction is a TP at both levels (even when its ground truth is
  LEVEL_2), an unmatched one an FP, an unmatched ground truth a miss at LEVEL_2, and at LEVEL_1 only if it is
  LEVEL_1;
* heading accuracy of a TP: ``1 - min(|d|, 2 pi - |d|) / pi`` for the heading difference d of the two
  headings wrapped into [-pi, pi); APH weighs TPs by it in the precision (not in the recall);
* AP from precision/recall at the cutoffs as ``waymo_ap`` describes (float32 arithmetic).

Checked against the dataset's own metric op (``waymo-open-dataset-tf-2-12-0`` 1.6.7, same configuration) on
random crowded frames and on a 3,769-frame case: AP equal, APH within 2e-7 (of 1).

Approximations: no-label zones are not modelled (no prediction is excused for overlapping one); the Hungarian
solver is SciPy's, which may pick a different matching among ones of equal total IoU (same TP count; heading
accuracies could differ); sums over frames are not accumulated in float32 in Waymo's order (differences
around 1e-6 AP).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ssal.errors import SsalError
from ssal.eval.frame_pairs import same_frame_pairs
from ssal.eval.waymo_ap import mean_average_precision, precision_recall
from ssal.eval.waymo_matching import MatchablePairs, count_matches, cutoff_index
from ssal.geometry import boxes_iou3d

DEFAULT_CLASSES = ("Vehicle", "Pedestrian", "Cyclist")
IOU_THRESHOLDS = {"vehicle": 0.7, "pedestrian": 0.5, "cyclist": 0.5, "sign": 0.5}
LEVEL2_MAX_POINTS = 5
_MIN_SIZE, _MAX_SIZE = 1e-2, 1e6


def evaluate_waymo(
    gt: Sequence[Mapping], pred: Sequence[Mapping], classes: Sequence[str] = DEFAULT_CLASSES,
    iou_thresholds: Mapping[str, float] | None = None,
) -> dict:
    """AP and APH (percent) per class and level: ``{class: {"LEVEL_1"|"LEVEL_2": {"AP": .., "APH": ..}},
    "mean": {...}}``. ``gt[i]`` and ``pred[i]`` are the ground truth and predictions of frame i."""
    if len(gt) != len(pred):
        raise SsalError(f"{len(gt)} ground truth frames but {len(pred)} prediction frames", "pred")
    thresholds = {**IOU_THRESHOLDS, **{k.lower(): v for k, v in (iou_thresholds or {}).items()}}
    for name in classes:
        if name.lower() not in thresholds:
            raise SsalError(f"no IoU threshold for class {name!r} (pass iou_thresholds)", "classes")
    truth = _stack(gt, "gt", ("boxes", "names", "num_points"), optional=("difficulty",))
    detections = _stack(pred, "pred", ("boxes", "scores", "names"))
    keep = truth["num_points"] > 0
    truth = {key: value[keep] for key, value in truth.items()}
    level = np.where((truth["difficulty"] == 2) | (truth["num_points"] <= LEVEL2_MAX_POINTS), 2, 1)
    pair_gt, pair_pred, iou = _same_class_ious(truth, detections, len(gt))
    heading = heading_accuracy(truth["boxes"][pair_gt, 6], detections["boxes"][pair_pred, 6])
    last_cutoff = cutoff_index(detections["scores"])

    result = {}
    for name in classes:
        cls = name.lower()
        threshold = np.float32(thresholds[cls])
        pred_rows = np.flatnonzero(detections["names"] == cls)
        gt_rows = np.flatnonzero(truth["names"] == cls)
        match = (truth["names"][pair_gt] == cls) & (iou >= threshold)
        pairs = MatchablePairs(
            pred=np.searchsorted(pred_rows, pair_pred[match]), gt=np.searchsorted(gt_rows, pair_gt[match]),
            frame=truth["frame"][pair_gt[match]], iou=iou[match], heading_accuracy=heading[match],
        )
        counts = count_matches(pairs, last_cutoff[pred_rows], level[gt_rows])
        result[name] = _levels(counts, level[gt_rows])
    result["mean"] = {
        lv: {m: float(np.mean([result[n][lv][m] for n in classes])) for m in ("AP", "APH")}
        for lv in ("LEVEL_1", "LEVEL_2")
    }
    return result


def heading_accuracy(gt_heading: np.ndarray, pred_heading: np.ndarray) -> np.ndarray:
    """(E,) Waymo's heading accuracy in [0, 1]: 1 for equal headings, 0 for opposite ones."""
    diff = np.abs(_wrap(pred_heading) - _wrap(gt_heading))
    diff = np.where(diff > math.pi, 2 * math.pi - diff, diff)
    return np.clip(1.0 - diff / math.pi, 0.0, 1.0)


def _levels(counts, gt_level: np.ndarray) -> dict:
    fp = counts.predictions - counts.tp
    out = {}
    for name, misses in (("LEVEL_1", np.count_nonzero(gt_level == 1) - counts.matched_level1),
                         ("LEVEL_2", len(gt_level) - counts.matched)):
        precision, recall = precision_recall(counts.tp, fp, misses)
        precision_ha, _ = precision_recall(counts.tp, fp, misses, counts.sum_ha)
        out[name] = {"AP": 100 * mean_average_precision(precision, recall),
                     "APH": 100 * mean_average_precision(precision_ha, recall)}
    return out


def _same_class_ious(truth: dict, detections: dict, num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same-frame, same-class pairs (ground truth row, prediction row) that may overlap, ordered by frame, and
    their float32 3-D IoU."""
    g, p = same_frame_pairs(truth["frame"], detections["frame"], num_frames)
    keep = truth["names"][g] == detections["names"][p]
    g, p = g[keep], p[keep]
    a, b = truth["boxes"][g], detections["boxes"][p]
    reach = 0.5 * (np.hypot(a[:, 3], a[:, 4]) + np.hypot(b[:, 3], b[:, 4]))
    near = ((a[:, :2] - b[:, :2]) ** 2).sum(axis=1) <= reach**2
    g, p, a, b = g[near], p[near], a[near], b[near]
    iou = boxes_iou3d(torch.from_numpy(a), torch.from_numpy(b), aligned=True).numpy() if len(g) else np.zeros(0)
    sizes = np.concatenate((a[:, 3:6], b[:, 3:6]), axis=1)
    iou = np.where(((sizes <= _MIN_SIZE) | (sizes >= _MAX_SIZE)).any(axis=1), 0.0, iou)
    return g, p, iou.astype(np.float32)


def _stack(frames: Sequence[Mapping], what: str, required: tuple, optional: tuple = ()) -> dict:
    """Concatenate the frames' arrays (names lower-cased) and add ``frame`` (N,); ``SsalError`` names the
    frame and key of a missing or misshapen array."""
    columns = {key: [] for key in (*required, *optional, "frame")}
    for index, frame in enumerate(frames):
        where = f"{what}[{index}]"
        if not isinstance(frame, Mapping):
            raise SsalError(f"expected a mapping of arrays, got {type(frame).__name__}", where)
        missing = [key for key in required if key not in frame]
        if missing:
            raise SsalError(f"missing {', '.join(missing)} (has {', '.join(map(str, frame)) or 'nothing'})", where)
        boxes = np.asarray(frame["boxes"], dtype=np.float64).reshape(-1, 7) if np.size(frame["boxes"]) else \
            np.zeros((0, 7))
        n = len(boxes)
        if not np.all(np.isfinite(boxes)):
            raise SsalError("boxes contain NaN or infinite values", f"{where}.boxes")
        columns["boxes"].append(boxes)
        for key in (*required, *optional):
            if key == "boxes":
                continue
            default = np.zeros(n, dtype=np.int64) if key in optional else None
            value = np.asarray(frame.get(key, default)).reshape(-1)
            if len(value) != n:
                raise SsalError(f"has {len(value)} entries for {n} boxes", f"{where}.{key}")
            columns[key].append(np.char.lower(value.astype(str)) if key == "names" else value)
        columns["frame"].append(np.full(n, index, dtype=np.int64))
    out = {key: np.concatenate(parts) if parts else np.zeros(0) for key, parts in columns.items()}
    out["boxes"] = out["boxes"].reshape(-1, 7).astype(np.float64)
    out["frame"] = out["frame"].astype(np.int64)
    if "scores" in out:
        out["scores"] = out["scores"].astype(np.float64)
        if not np.all(np.isfinite(out["scores"])):
            raise SsalError("scores contain NaN or infinite values", f"{what}.scores")
    if "names" in out:
        out["names"] = out["names"].astype(str)
    return out


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped into [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi
