"""Rotated bird's-eye-view and 3-D overlap and IoU of boxes ``(x, y, z, dx, dy, dz, heading)``.

Pairs whose axis-aligned enclosing rectangles do not overlap are zero and never reach the exact area code
(``ssal.geometry.rectangle_overlap``); the candidates come from an x-sweep (``ssal.geometry.sweep``) in bounded
chunks, so a 500 x 500 scene costs a few thousand exact evaluations and memory stays bounded for large inputs.
Inputs may be any float dtype on any device; the arithmetic runs in float32 (float64 if an input is float64)
and results come back in the inputs' dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ssal.errors import SsalError
from ssal.geometry._checks import check_rows, result_dtype, working_dtype
from ssal.geometry.rectangle_overlap import rectangle_overlap_area
from ssal.geometry.sweep import DEFAULT_MAX_PAIRS, bev_half_extents, x_overlap_pairs


def boxes_overlap_bev(boxes_a: Tensor, boxes_b: Tensor, aligned: bool = False) -> Tensor:
    """Bird's-eye-view intersection area of every pair: boxes (N, 7+) and (M, 7+) -> (N, M).

    With ``aligned=True``, of row-wise pairs instead: boxes (N, 7+) and (N, 7+) -> (N,).
    """
    a, b, out_dtype = _prepare(boxes_a, boxes_b, aligned)
    return _overlap(a, b, aligned).to(out_dtype)


def boxes_iou_bev(boxes_a: Tensor, boxes_b: Tensor, aligned: bool = False) -> Tensor:
    """Rotated bird's-eye-view IoU of every pair: boxes (N, 7+) and (M, 7+) -> (N, M) in [0, 1].

    Only x, y, dx, dy and heading are used. A zero-size box has IoU 0 with everything (never NaN).
    With ``aligned=True``, of row-wise pairs instead: boxes (N, 7+) and (N, 7+) -> (N,).
    """
    a, b, out_dtype = _prepare(boxes_a, boxes_b, aligned)
    area_a, area_b = _pairable(a[:, 3] * a[:, 4], b[:, 3] * b[:, 4], aligned)
    return iou_from_overlap(_overlap(a, b, aligned), area_a, area_b).to(out_dtype)


def boxes_iou3d(boxes_a: Tensor, boxes_b: Tensor, aligned: bool = False) -> Tensor:
    """Rotated 3-D IoU of every pair: boxes (N, 7+) and (M, 7+) -> (N, M) in [0, 1].

    Intersection = BEV intersection area x overlap of the z-extents ``z +- dz / 2``; union = sum of volumes
    minus intersection (OpenPCDet's ``boxes_iou3d_gpu``, with 0 instead of NaN for empty unions).
    With ``aligned=True``, of row-wise pairs instead: boxes (N, 7+) and (N, 7+) -> (N,).
    """
    a, b, out_dtype = _prepare(boxes_a, boxes_b, aligned)
    top_a, top_b = _pairable(a[:, 2] + a[:, 5] * 0.5, b[:, 2] + b[:, 5] * 0.5, aligned)
    bottom_a, bottom_b = _pairable(a[:, 2] - a[:, 5] * 0.5, b[:, 2] - b[:, 5] * 0.5, aligned)
    height = (torch.minimum(top_a, top_b) - torch.maximum(bottom_a, bottom_b)).clamp_min(0)
    volume_a, volume_b = _pairable(a[:, 3] * a[:, 4] * a[:, 5], b[:, 3] * b[:, 4] * b[:, 5], aligned)
    return iou_from_overlap(_overlap(a, b, aligned) * height, volume_a, volume_b).to(out_dtype)


def candidate_pairs(boxes_a: Tensor, boxes_b: Tensor, max_pairs: int = DEFAULT_MAX_PAIRS):
    """Index pairs (i, j) whose BEV enclosing rectangles overlap, in chunks of about ``max_pairs``.

    Yields long (P,) tensors ``(ia, ib)``; every pair with a positive intersection area is among them. The
    pre-filter in front of ``rectangle_overlap_area`` for the dense functions above and for NMS.
    """
    ext_a, ext_b = bev_half_extents(boxes_a), bev_half_extents(boxes_b)
    for ia, ib in x_overlap_pairs(boxes_a[:, 0], ext_a[:, 0], boxes_b[:, 0], ext_b[:, 0], max_pairs):
        close = ((boxes_a[ia, :2] - boxes_b[ib, :2]).abs() < ext_a[ia] + ext_b[ib]).all(dim=1)
        yield ia[close], ib[close]


def _overlap(a: Tensor, b: Tensor, aligned: bool) -> Tensor:
    if aligned:
        return rectangle_overlap_area(a, b)
    out = a.new_zeros(a.shape[0], b.shape[0])
    for ia, ib in candidate_pairs(a, b):
        out[ia, ib] = rectangle_overlap_area(a[ia], b[ib])
    return out


def _pairable(values_a: Tensor, values_b: Tensor, aligned: bool) -> tuple[Tensor, Tensor]:
    """Per-box values shaped to combine pairwise: as they are when aligned, else (N, 1) and (1, M)."""
    return (values_a, values_b) if aligned else (values_a[:, None], values_b[None, :])


def iou_from_overlap(inter: Tensor, size_a: Tensor, size_b: Tensor) -> Tensor:
    """IoU from intersections and the two boxes' areas (or volumes), broadcast together: 0 where the union is
    empty (never NaN), clipped to [0, 1] against rounding."""
    union = size_a + size_b - inter
    positive = union > 0
    return torch.where(positive, inter / torch.where(positive, union, torch.ones_like(union)), 0.0).clamp(0, 1)


def _prepare(boxes_a: Tensor, boxes_b: Tensor, aligned: bool) -> tuple[Tensor, Tensor, torch.dtype]:
    check_rows(boxes_a, "boxes_a", 7, "boxes (x, y, z, dx, dy, dz, heading)")
    check_rows(boxes_b, "boxes_b", 7, "boxes (x, y, z, dx, dy, dz, heading)")
    if aligned and boxes_a.shape[0] != boxes_b.shape[0]:
        raise SsalError(f"aligned pairs need as many boxes as boxes_a ({boxes_a.shape[0]}), got {boxes_b.shape[0]}",
                        "boxes_b")
    dtype = working_dtype(boxes_a, boxes_b)
    return boxes_a.to(dtype), boxes_b.to(dtype), result_dtype(boxes_a, boxes_b)
