"""Which points lie inside which boxes ``(x, y, z, dx, dy, dz, heading)``.

A point is inside a box when, in the box's frame, ``|x| <= dx / 2``, ``|y| <= dy / 2`` and ``|z| <= dz / 2``:
points on a face count, as in OpenPCDet's ``num_points_in_gt`` (an inclusive convex-hull test). Only point-box
pairs whose x-coordinates fall within the box's enclosing rectangle are tested (an x-sweep over the points,
``ssal.geometry.sweep``), in chunks of bounded size, so 120k points x 100 boxes costs a few hundred thousand
exact tests and little memory. The arithmetic runs in float64 if either input is float64 (as KITTI's point
counts need), else float32.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from ssal.geometry._checks import check_rows, working_dtype
from ssal.geometry.sweep import DEFAULT_MAX_PAIRS, bev_half_extents, x_overlap_pairs


def points_in_boxes(points: Tensor, boxes: Tensor) -> Tensor:
    """Membership of every point in every box: points (N, 3+) and boxes (M, 7+) -> bool (N, M)."""
    out = torch.zeros(points.shape[0], boxes.shape[0], dtype=torch.bool, device=points.device)
    for point_index, box_index in inside_pairs(points, boxes):
        out[point_index, box_index] = True
    return out


def points_in_boxes_index(points: Tensor, boxes: Tensor) -> Tensor:
    """For each point (N, 3+), the index of the first box (M, 7+) that contains it, or -1: long (N,)."""
    count = boxes.shape[0]
    first = torch.full((points.shape[0],), count, dtype=torch.long, device=points.device)
    for point_index, box_index in inside_pairs(points, boxes):
        first.scatter_reduce_(0, point_index, box_index, reduce="amin")
    return torch.where(first == count, torch.full_like(first, -1), first)


def count_points_in_boxes(points: Tensor, boxes: Tensor) -> Tensor:
    """Number of points (N, 3+) inside each box (M, 7+): long (M,). A point in two boxes counts for both."""
    counts = torch.zeros(boxes.shape[0], dtype=torch.long, device=points.device)
    for _, box_index in inside_pairs(points, boxes):
        counts += torch.bincount(box_index, minlength=boxes.shape[0])
    return counts


def points_in_boxes_numpy(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``points_in_boxes`` on numpy arrays: points (N, 3+), boxes (M, 7+) -> bool (N, M)."""
    return points_in_boxes(torch.from_numpy(np.asarray(points)), torch.from_numpy(np.asarray(boxes))).numpy()


def count_points_in_boxes_numpy(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``count_points_in_boxes`` on numpy arrays: points (N, 3+), boxes (M, 7+) -> int64 (M,)."""
    return count_points_in_boxes(torch.from_numpy(np.asarray(points)), torch.from_numpy(np.asarray(boxes))).numpy()


def inside_pairs(points: Tensor, boxes: Tensor, max_pairs: int = DEFAULT_MAX_PAIRS) -> Iterator[tuple[Tensor, Tensor]]:
    """Every (point index, box index) with the point inside the box, as long (P,) tensors in chunks."""
    check_rows(points, "points", 3, "points (x, y, z, ...)")
    check_rows(boxes, "boxes", 7, "boxes (x, y, z, dx, dy, dz, heading)")
    dtype = working_dtype(points, boxes)
    xyz, boxes = points[:, :3].to(dtype), boxes.to(dtype)
    reach = bev_half_extents(boxes)[:, 0]
    # Widen the sweep a little so rounding in the enclosing rectangle never hides a point on a corner.
    reach = reach + (reach + boxes[:, 0].abs()) * 1e-5
    cos, sin = torch.cos(boxes[:, 6]), torch.sin(boxes[:, 6])
    for box_index, point_index in x_overlap_pairs(boxes[:, 0], reach, xyz[:, 0], torch.zeros_like(xyz[:, 0]),
                                                  max_pairs):
        box = boxes[box_index]
        offset = xyz[point_index] - box[:, :3]
        c, s = cos[box_index], sin[box_index]
        inside = (
            ((offset[:, 0] * c + offset[:, 1] * s).abs() <= box[:, 3] * 0.5)
            & ((offset[:, 1] * c - offset[:, 0] * s).abs() <= box[:, 4] * 0.5)
            & (offset[:, 2].abs() <= box[:, 5] * 0.5)
        )
        yield point_index[inside], box_index[inside]
