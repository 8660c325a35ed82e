"""Greedy rotated non-maximum suppression in bird's-eye view.

Boxes are taken in descending score order (a stable sort, so equal scores keep their input order); a box is
kept unless a kept, higher-ranked box overlaps it with BEV IoU > ``iou_threshold`` (OpenPCDet's rule).

The greedy order is resolved in blocks of ranks, lazily: a block's ranks first meet the boxes kept so far (any
that one of them overlaps is dropped), then the IoUs among the block's survivors decide which of them are kept (a
short loop over suppression lists on the CPU). With a cap on the boxes kept (``post_max_size``) the ranks after the
block that reaches it are never compared at all: proposal NMS keeps 256 of 2,048 and usually stops in the second
block. Every comparison goes through two cheap necessary tests before the exact rotated overlap: the axis-aligned
rectangles enclosing the two boxes must overlap (a sweep along x) by more than ``iou_threshold`` times the larger
box's area, since the intersection is no larger than that overlap and the union no smaller than either box.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ssal.errors import SsalError
from ssal.geometry._checks import check_rows, working_dtype
from ssal.geometry.iou import iou_from_overlap
from ssal.geometry.rectangle_overlap import rectangle_overlap_area
from ssal.geometry.sweep import bev_half_extents, x_overlap_pairs

# Ranks per block. Proposal NMS of the cpu preset (4 frames, trained detector, 1 thread), training 2,048 -> 256 at
# 0.8 / inference 1,024 -> 100 at 0.7: 128 -> 40 / 26 ms, 256 -> 37 / 19 ms, 512 -> 34 / 34 ms.
_BLOCK = 256


def nms_bev(
    boxes: Tensor,
    scores: Tensor,
    iou_threshold: float,
    pre_max_size: int | None = None,
    post_max_size: int | None = None,
) -> Tensor:
    """Class-agnostic greedy rotated NMS.

    Args:
        boxes: (N, 7+) boxes ``(x, y, z, dx, dy, dz, heading)``.
        scores: (N,) scores; higher is better.
        iou_threshold: a box is suppressed by a kept box when their BEV IoU is strictly above this.
        pre_max_size: if given, only the ``pre_max_size`` best-scoring boxes take part.
        post_max_size: if given, at most this many indices are returned.

    Returns:
        LongTensor (K,) of kept indices into ``boxes``, in descending score order, on ``boxes.device``.
    """
    order = _ranked(boxes, scores, iou_threshold, pre_max_size)
    return order[_greedy(boxes[order], None, iou_threshold, post_max_size)]


def batched_nms_bev(
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    iou_threshold: float,
    pre_max_size: int | None = None,
    post_max_size: int | None = None,
) -> Tensor:
    """Class-aware greedy rotated NMS: a box only suppresses boxes with the same label.

    Same arguments and result as ``nms_bev``, plus ``labels`` (N,) integer class ids; ``pre_max_size`` and
    ``post_max_size`` count all classes together.
    """
    if labels.shape != scores.shape:
        raise SsalError(f"expected one label per score {tuple(scores.shape)}, got {tuple(labels.shape)}", "labels")
    order = _ranked(boxes, scores, iou_threshold, pre_max_size)
    return order[_greedy(boxes[order], labels[order], iou_threshold, post_max_size)]


def _ranked(boxes: Tensor, scores: Tensor, iou_threshold: float, pre_max_size: int | None) -> Tensor:
    """Indices of the boxes taking part, best score first (ties in input order)."""
    check_rows(boxes, "boxes", 7, "boxes (x, y, z, dx, dy, dz, heading)")
    if not iou_threshold >= 0:
        raise SsalError(f"expected an IoU threshold >= 0, got {iou_threshold}", "iou_threshold")
    if scores.shape != (boxes.shape[0],):
        raise SsalError(f"expected one score per box ({boxes.shape[0]},), got {tuple(scores.shape)}", "scores")
    order = torch.sort(scores, descending=True, stable=True).indices
    return order if pre_max_size is None else order[:pre_max_size]


def _greedy(ranked: Tensor, labels: Tensor | None, threshold: float, limit: int | None) -> Tensor:
    """Ranks (K,) kept by greedy NMS over boxes (N, 7+) already sorted best first."""
    boxes = _Boxes(ranked.to(working_dtype(ranked)), labels)
    count = ranked.shape[0]
    limit = count if limit is None else limit
    kept: list[Tensor] = []
    num_kept = 0
    for start in range(0, count, _BLOCK):
        if num_kept >= limit:
            break
        block = torch.arange(start, min(start + _BLOCK, count), device=ranked.device)
        if kept:
            _, victims = boxes.suppressing_pairs(torch.cat(kept), block, threshold)
            alive = torch.ones(block.numel(), dtype=torch.bool, device=block.device)
            alive[victims] = False
            block = block[alive]
        first, second = boxes.suppressing_pairs(block, block, threshold)
        winners = block[_walk(block.numel(), first, second)][: limit - num_kept]
        kept.append(winners)
        num_kept += winners.numel()
    return torch.cat(kept) if kept else torch.zeros(0, dtype=torch.long, device=ranked.device)


class _Boxes:
    """The ranked boxes with what every comparison reads: enclosing half extents, areas, labels."""

    def __init__(self, boxes: Tensor, labels: Tensor | None):
        self.boxes, self.labels = boxes, labels
        self.extents = bev_half_extents(boxes)
        self.areas = boxes[:, 3] * boxes[:, 4]

    def suppressing_pairs(self, rows: Tensor, cols: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
        """Positions (i into ``rows``, j into ``cols``) of the pairs of boxes with BEV IoU above ``threshold``
        (and equal labels when given). With ``rows is cols`` (a block against itself) only pairs with i < j: the
        greedy walk needs each pair once, the earlier rank first."""
        ext, centre = self.extents, self.boxes[:, :2]
        firsts, seconds = [], []
        # The sweep sorts its second side: the smaller one.
        for j, i in x_overlap_pairs(centre[cols, 0], ext[cols, 0], centre[rows, 0], ext[rows, 0]):
            if rows is cols:
                i, j = i[i < j], j[i < j]
            a, b = rows[i], cols[j]
            if self.labels is not None:
                same = self.labels[a] == self.labels[b]
                a, b, i, j = a[same], b[same], i[same], j[same]
            # Overlap of the enclosing rectangles: an upper bound on the intersection. The small slack keeps every
            # pair whose exact IoU could round above the threshold.
            reach = torch.minimum(ext[a] + ext[b] - (centre[a] - centre[b]).abs(), 2 * torch.minimum(ext[a], ext[b]))
            bound = reach.clamp_min(0).prod(dim=1)
            possible = bound > threshold * torch.maximum(self.areas[a], self.areas[b]) * (1 - 1e-3)
            a, b, i, j = a[possible], b[possible], i[possible], j[possible]
            box_a, box_b = self.boxes[a], self.boxes[b]
            iou = iou_from_overlap(rectangle_overlap_area(box_a, box_b), self.areas[a], self.areas[b])
            hit = iou > threshold
            firsts.append(i[hit])
            seconds.append(j[hit])
        if not firsts:
            return rows.new_zeros(0), rows.new_zeros(0)
        return torch.cat(firsts), torch.cat(seconds)


def _walk(count: int, first: Tensor, second: Tensor) -> Tensor:
    """Greedy pass over ``count`` ranks: keep a rank unless an earlier kept rank suppresses it, given every
    (earlier, later) pair above the threshold. Returns the kept ranks (K,) on the pairs' device."""
    first_np, second_np = first.cpu().numpy(), second.cpu().numpy()
    by_first = np.argsort(first_np, kind="stable")
    first_np, second_np = first_np[by_first], second_np[by_first]
    starts = np.searchsorted(first_np, np.arange(count + 1))
    suppressed = np.zeros(count, dtype=bool)
    keep = []
    for rank in range(count):
        if not suppressed[rank]:
            keep.append(rank)
            suppressed[second_np[starts[rank]:starts[rank + 1]]] = True
    return torch.as_tensor(keep, dtype=torch.long, device=first.device)
