"""Greedy rotated non-maximum suppression in bird's-eye view.

Boxes are taken in descending score order (a stable sort, so equal scores keep their input order); a box is
kept unless a kept, higher-ranked box overlaps it with BEV IoU > ``iou_threshold`` (OpenPCDet's rule).

The greedy order is resolved in blocks of ranks: inside a block, the IoUs among its surviving boxes decide
which of them are kept (a short loop over suppression lists on the CPU); then only the block's kept boxes are
compared with the surviving lower-ranked boxes, which they suppress in one vectorised step. A box that is
suppressed early therefore never costs an IoU against the rest, and every comparison goes through the
enclosing-rectangle pre-filter (``ssal.geometry.iou.candidate_pairs``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ssal.errors import SsalError
from ssal.geometry._checks import check_rows, working_dtype
from ssal.geometry.iou import candidate_pairs, iou_from_overlap
from ssal.geometry.rectangle_overlap import rectangle_overlap_area

# Surviving ranks resolved per step. Measured on 4,096 clustered candidates (2 CPU threads): 128 -> 24 ms,
# 256 -> 7 ms, 512 -> 8 ms, 1024 -> 17 ms (per-step overhead against in-block pairs and loop length).
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
    ranked = ranked.to(working_dtype(ranked))
    count = ranked.shape[0]
    limit = count if limit is None else limit
    alive = torch.ones(count, dtype=torch.bool, device=ranked.device)
    kept: list[Tensor] = []
    num_kept = 0
    start = 0
    while start < count and num_kept < limit:
        # The next _BLOCK surviving ranks.
        block = start + torch.nonzero(alive[start:]).flatten()[:_BLOCK]
        if block.numel() == 0:
            break
        start = int(block[-1]) + 1
        first, second = _suppressing_pairs(ranked, labels, block, block, threshold)
        earlier = first < second
        winners = block[_walk(block.numel(), first[earlier], second[earlier])][: limit - num_kept]
        kept.append(winners)
        num_kept += winners.numel()
        later = start + torch.nonzero(alive[start:]).flatten()
        if later.numel() and winners.numel():
            _, victims = _suppressing_pairs(ranked, labels, winners, later, threshold)
            alive[later[victims]] = False
    return torch.cat(kept) if kept else torch.zeros(0, dtype=torch.long, device=ranked.device)


def _suppressing_pairs(
    boxes: Tensor, labels: Tensor | None, rows: Tensor, cols: Tensor, threshold: float
) -> tuple[Tensor, Tensor]:
    """Positions (i into ``rows``, j into ``cols``) of the pairs of boxes with BEV IoU above ``threshold``
    (and equal labels when given)."""
    firsts, seconds = [], []
    for j, i in candidate_pairs(boxes[cols], boxes[rows]):  # the sweep sorts its second argument: the smaller
        if labels is not None:
            same = labels[rows[i]] == labels[cols[j]]
            i, j = i[same], j[same]
        a, b = boxes[rows[i]], boxes[cols[j]]
        hit = iou_from_overlap(rectangle_overlap_area(a, b), a[:, 3] * a[:, 4], b[:, 3] * b[:, 4]) > threshold
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
