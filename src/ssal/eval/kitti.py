"""KITTI object detection AP, number for number as the official devkit (``evaluate_object_3d_offline.cpp`` with
41 recall sample points): 2-D, BEV, 3-D and AOS, Easy/Moderate/Hard, R11 and R40.

    from ssal.eval import evaluate_kitti, format_kitti_table
    result = evaluate_kitti(gt_labels, predictions)         # lists of KittiLabels, one per frame, same order
    result["Car"]["3d"]["R40"]                             # [easy, moderate, hard] in percent
    print(format_kitti_table(result))

The rules live in ``kitti_protocol`` (filters, states, thresholds), ``kitti_overlaps`` (the three overlap
measures), ``kitti_matching`` (the greedy assignment) and ``kitti_ap`` (thresholds, precision, AP). Checked
against the compiled devkit (both overlap tables, every class, metric and difficulty) on the kitti_sample
splits, on crowded random frames full of edge cases and on a 3,769-frame val-sized case: equal to 1e-10 AP.
Where this differs from the devkit, on purpose:

* a class without any detection scores 0 here; the devkit leaves it out of its output;
* a precision of 0/0 (see ``kitti_ap.precision_curve``) is 0 here, NaN there;
* AOS is left out (no "aos" key) when any detection has alpha = -10, the devkit's "no orientation" marker.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ssal.data.kitti_label import KittiLabels
from ssal.errors import SsalError
from ssal.eval.kitti_ap import average_precision, precision_curve, score_thresholds
from ssal.eval.kitti_matching import counts_at_thresholds, recall_scores, select_candidates
from ssal.eval.kitti_objects import KittiObjects, flatten_labels
from ssal.eval.kitti_overlaps import PairOverlaps, dontcare_coverage, pair_overlaps
from ssal.eval.kitti_protocol import (
    DIFFICULTIES, EVALUABLE_CLASSES, METRICS, MIN_OVERLAP, VALID, detection_states, ground_truth_states,
)

DEFAULT_CLASSES = ("Car", "Pedestrian", "Cyclist")
NO_ORIENTATION = -10.0  # alpha value by which a result file says it has no orientation


def evaluate_kitti(
    gt: Sequence[KittiLabels], pred: Sequence[KittiLabels], classes: Sequence[str] = DEFAULT_CLASSES,
    loose: bool = True,
) -> dict:
    """AP of detections ``pred`` against ground truth ``gt`` (one ``KittiLabels`` per frame, same order;
    detections need scores).

    Returns ``{class: {"2d"|"bev"|"3d"|"aos": {"R11": [e, m, h], "R40": [e, m, h]}}, "mean": {...}}`` in
    percent with the official minimum overlaps (Car 0.7, Pedestrian/Cyclist 0.5), and with ``loose`` the same
    again under ``"loose"`` for the second table (BEV/3-D at 0.5 for Car, 0.25 for Pedestrian/Cyclist).
    """
    names = check_kitti_classes(classes)
    if len(gt) != len(pred):
        raise SsalError(f"{len(gt)} ground truth frames but {len(pred)} prediction frames", "pred")
    gt_objects = flatten_labels(gt, "gt", with_score=False)
    det_objects = flatten_labels(pred, "pred", with_score=True)
    pairs = pair_overlaps(gt_objects, det_objects)
    coverage = dontcare_coverage(gt_objects, det_objects)
    with_aos = not np.any(det_objects.alpha == NO_ORIENTATION)
    tables = ("strict", "loose") if loose else ("strict",)
    per_table = {table: {} for table in tables}
    for label, cls in zip(classes, names):
        for table, result in _evaluate_class(gt_objects, det_objects, pairs, coverage, cls, tables).items():
            if not with_aos:
                result.pop("aos")
            per_table[table][label] = result
    for table in tables:
        per_table[table]["mean"] = _mean(list(per_table[table].values()))
    out = per_table["strict"]
    if loose:
        out["loose"] = per_table["loose"]
    return out


def _evaluate_class(
    gt: KittiObjects, det: KittiObjects, pairs: PairOverlaps, coverage: dict, cls: str, tables: tuple
) -> dict:
    """``{table: {metric: {"R11": [3], "R40": [3]}}}`` for one lower-case class."""
    out = {table: {m: {"R11": [], "R40": []} for m in (*METRICS, "aos")} for table in tables}
    gt_frame = gt.frame
    for difficulty in range(len(DIFFICULTIES)):
        gt_state = ground_truth_states(gt.names, gt.bbox, gt.occluded, gt.truncated, cls, difficulty)
        det_state = detection_states(det.names, det.bbox, cls, difficulty)
        done = {}
        for table in tables:
            for metric in METRICS:
                min_overlap = MIN_OVERLAP[table][metric][cls]
                key = (metric, min_overlap)
                if key not in done:  # the loose 2-D thresholds equal the strict ones
                    done[key] = _curves(gt, det, pairs, coverage, gt_frame, gt_state, det_state, metric, min_overlap)
                precision, aos = done[key]
                _append(out[table][metric], precision)
                if metric == "2d":
                    _append(out[table]["aos"], aos)
    return out


def _curves(gt, det, pairs, coverage, gt_frame, gt_state, det_state, metric: str, min_overlap: float) -> tuple:
    """Precision and orientation-similarity curves (41,) for one class, difficulty, metric and overlap."""
    candidates = select_candidates(pairs.gt, pairs.det, pairs.iou[metric], min_overlap, gt_state, det_state)
    scores = recall_scores(candidates, gt_frame, gt_state, det_state, det.score)
    thresholds = score_thresholds(scores, int(np.count_nonzero(gt_state == VALID)))
    counts = counts_at_thresholds(
        candidates, thresholds, gt_frame, gt_state, det_state, det.score, gt.alpha, det.alpha,
        coverage[metric] > min_overlap,
    )
    return precision_curve(counts.tp, counts.fp, counts.similarity)


def _append(entry: dict, curve: np.ndarray) -> None:
    for key, value in average_precision(curve).items():
        entry[key].append(value)


def _mean(results: list[dict]) -> dict:
    """Per metric and recall setting, the mean over classes of [easy, moderate, hard]."""
    if not results:
        return {}
    return {
        metric: {setting: np.mean([r[metric][setting] for r in results], axis=0).tolist() for setting in settings}
        for metric, settings in results[0].items()
    }


def check_kitti_classes(classes: Sequence[str]) -> list[str]:
    """Lower-case names of ``classes``; ``SsalError`` for a class without overlap thresholds or a duplicate."""
    if isinstance(classes, str) or not len(classes):
        raise SsalError(f"expected a list of class names, got {classes!r}", "classes")
    names = [str(c).lower() for c in classes]
    unknown = [c for c, n in zip(classes, names) if n not in EVALUABLE_CLASSES]
    if unknown:
        raise SsalError(f"cannot evaluate {', '.join(map(str, unknown))}; KITTI classes with overlap thresholds: "
                        f"Car, Pedestrian, Cyclist, Van, Person_sitting, Truck", "classes")
    if len(set(names)) != len(names):
        raise SsalError(f"duplicate class in {list(classes)}", "classes")
    return names
