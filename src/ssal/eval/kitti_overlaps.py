"""Overlaps between ground truth and detections of the same frame, computed once and reused for every class,
difficulty and threshold: 2-D box IoU in the image, rotated IoU of the boxes seen from above (camera x-z plane)
and 3-D IoU (that area times the overlap of the vertical extents along camera y), exactly as the devkit's
``imageBoxOverlap``, ``groundBoxOverlap`` and ``box3DOverlap`` define them (no ``+ 1`` on pixel sizes).

Also the "DontCare" coverage of each detection: its overlap with the frame's DontCare regions relative to the
detection's own area (the devkit's criterion 0). The devkit computes it with the metric's own overlap function,
so in BEV and 3-D only DontCare boxes with real 3-D sizes count; KITTI's DontCare labels carry -1 sizes at
-1000 m and never overlap anything there (the Python port skips that case; the two agree on KITTI's labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssal.eval.frame_pairs import same_frame_pairs
from ssal.eval.kitti_objects import KittiObjects
from ssal.eval.kitti_protocol import is_dontcare
from ssal.geometry import boxes_overlap_bev


@dataclass(frozen=True)
class PairOverlaps:
    """Every (ground truth, detection) pair of the same frame, ground truth DontCare excluded, in the order
    frame, ground truth row, detection row. ``iou`` maps "2d", "bev", "3d" to (P,) float64."""

    gt: np.ndarray  # (P,) int64 rows of the ground truth objects
    det: np.ndarray  # (P,) int64 rows of the detections
    iou: dict[str, np.ndarray]


def pair_overlaps(gt: KittiObjects, det: KittiObjects, max_pairs: int = 1 << 20) -> PairOverlaps:
    """Overlaps of the same-frame pairs of non-DontCare ground truth and detections that overlap at all (in the
    image or seen from above); pairs that touch nowhere can never match and are dropped. Frames are processed
    in chunks of about ``max_pairs`` candidate pairs, so memory stays bounded however many detections a frame
    has."""
    gt_rows = np.flatnonzero(~is_dontcare(gt.names))
    gt_frame, det_frame = gt.frame[gt_rows], det.frame
    num_frames = len(gt.offsets) - 1
    per_frame = np.bincount(gt_frame, minlength=num_frames) * np.bincount(det_frame, minlength=num_frames)
    chunk_of_frame = np.cumsum(per_frame) // max(1, max_pairs)
    parts = []
    for chunk in np.unique(chunk_of_frame):
        frames = np.flatnonzero(chunk_of_frame == chunk)
        g_sel = gt_rows[np.isin(gt_frame, frames)]
        d_sel = np.flatnonzero(np.isin(det_frame, frames))
        g, d = same_frame_pairs(gt.frame[g_sel], det_frame[d_sel], num_frames)
        parts.append(_overlaps_of_pairs(gt, det, g_sel[g], d_sel[d]))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return PairOverlaps(gt=empty, det=empty, iou={m: np.zeros(0) for m in ("2d", "bev", "3d")})
    return PairOverlaps(
        gt=np.concatenate([p.gt for p in parts]), det=np.concatenate([p.det for p in parts]),
        iou={m: np.concatenate([p.iou[m] for p in parts]) for m in ("2d", "bev", "3d")},
    )


def _overlaps_of_pairs(gt: KittiObjects, det: KittiObjects, g: np.ndarray, d: np.ndarray) -> PairOverlaps:
    """The three overlaps of pairs (ground truth row g, detection row d), keeping those that overlap at all."""
    iou = {"2d": image_overlap(det.bbox[d], gt.bbox[g], criterion="union")}
    inter_area = ground_intersection(gt.camera_boxes, det.camera_boxes, g, d)
    gt_box, det_box = gt.camera_boxes[g], det.camera_boxes[d]
    area_g, area_d = gt_box[:, 3] * gt_box[:, 5], det_box[:, 3] * det_box[:, 5]
    iou["bev"] = _ratio(inter_area, area_g + area_d - inter_area)
    inter_volume = inter_area * vertical_overlap(det_box, gt_box)
    iou["3d"] = _ratio(inter_volume, _volume(det_box) + _volume(gt_box) - inter_volume)
    touching = (iou["2d"] > 0) | (iou["bev"] > 0)
    return PairOverlaps(gt=g[touching], det=d[touching], iou={m: v[touching] for m, v in iou.items()})


def dontcare_coverage(gt: KittiObjects, det: KittiObjects) -> dict[str, np.ndarray]:
    """Per metric, (D,) the largest share of each detection covered by one DontCare region of its frame."""
    dc_rows = np.flatnonzero(is_dontcare(gt.names))
    coverage = {metric: np.zeros(len(det)) for metric in ("2d", "bev", "3d")}
    g, d = same_frame_pairs(gt.frame[dc_rows], det.frame, len(gt.offsets) - 1)
    g = dc_rows[g]
    np.maximum.at(coverage["2d"], d, image_overlap(det.bbox[d], gt.bbox[g], criterion="a"))
    sized = (gt.camera_boxes[g, 3:6] > 0).all(axis=1)  # KITTI's DontCare boxes have -1 sizes
    g, d = g[sized], d[sized]
    if len(g):
        inter_area = ground_intersection(gt.camera_boxes, det.camera_boxes, g, d)
        det_box = det.camera_boxes[d]
        np.maximum.at(coverage["bev"], d, _ratio(inter_area, det_box[:, 3] * det_box[:, 5]))
        inter_volume = inter_area * vertical_overlap(det_box, gt.camera_boxes[g])
        np.maximum.at(coverage["3d"], d, _ratio(inter_volume, _volume(det_box)))
    return coverage


def image_overlap(a: np.ndarray, b: np.ndarray, criterion: str) -> np.ndarray:
    """Overlap of aligned 2-D boxes (P, 4): intersection over union (``"union"``) or over the area of a (``"a"``)."""
    w = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    h = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = w * h
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    if criterion == "union":
        denominator = area_a + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    else:
        denominator = area_a
    return np.where((w > 0) & (h > 0), _ratio(inter, denominator), 0.0)


def ground_intersection(boxes_a: np.ndarray, boxes_b: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    """(P,) intersection areas, seen from above, of camera boxes ``boxes_a[rows_a[k]]`` and ``boxes_b[rows_b[k]]``.

    Pairs whose circumscribed circles are apart have none; the rest go to one row-wise rotated-overlap call.
    """
    bev_a, bev_b = ground_boxes(boxes_a[rows_a]), ground_boxes(boxes_b[rows_b])
    reach = _circumradius(bev_a) + _circumradius(bev_b)
    near = np.flatnonzero(((bev_a[:, :2] - bev_b[:, :2]) ** 2).sum(axis=1) <= reach**2)
    out = np.zeros(len(rows_a))
    if len(near):
        out[near] = boxes_overlap_bev(
            torch.from_numpy(bev_a[near]), torch.from_numpy(bev_b[near]), aligned=True
        ).numpy()
    return out


def ground_boxes(camera_boxes: np.ndarray) -> np.ndarray:
    """Camera boxes (N, 7) ``(x, y, z, l, h, w, ry)`` as boxes ``(x, z, 0, l, w, h, -ry)`` of the x-z plane.

    The devkit's polygon has its centre at (x, z), length along the heading and the corners turned by
    ``[[cos ry, sin ry], [-sin ry, cos ry]]``, a counter-clockwise turn by ``-ry`` in the (x, z) plane.
    """
    x, z, l, h, w, ry = (camera_boxes[:, k] for k in (0, 2, 3, 4, 5, 6))
    return np.stack((x, z, np.zeros_like(x), l, w, h, -ry), axis=1).astype(np.float64)


def vertical_overlap(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(P,) overlap of the vertical extents ``[y - h, y]`` (camera y points down) of aligned camera boxes."""
    top = np.maximum(boxes_a[:, 1] - boxes_a[:, 4], boxes_b[:, 1] - boxes_b[:, 4])
    bottom = np.minimum(boxes_a[:, 1], boxes_b[:, 1])
    return np.maximum(0.0, bottom - top)


def _volume(camera_boxes: np.ndarray) -> np.ndarray:
    return camera_boxes[:, 4] * camera_boxes[:, 3] * camera_boxes[:, 5]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is not positive (the devkit would give NaN: no match)."""
    positive = denominator > 0
    return np.where(positive, numerator / np.where(positive, denominator, 1.0), 0.0)


def _circumradius(boxes: np.ndarray) -> np.ndarray:
    return 0.5 * np.hypot(boxes[:, 3], boxes[:, 4])
