"""Anchor target assignment by bird's-eye-view IoU, per class (OpenPCDet's AxisAlignedTargetAssigner).

An anchor is positive when its IoU with a GT box of its own class reaches the class's matched threshold, negative
below the unmatched threshold and ignored in between; besides, every GT box claims the anchors that overlap it best
(when they overlap at all), so small or oddly shaped objects are never left without a positive anchor. All anchors
are used (no sub-sampling). IoU is axis-aligned after snapping each box to the nearer of 0 and 90 degrees, as
OpenPCDet does, or rotated (``matching_iou: rotated``) through ``ssal.geometry.boxes_iou_bev``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor

from ssal.geometry import boxes_iou_bev, limit_period
from ssal.models.box_coder import encode_boxes
from ssal.models.config import ModelConfig

_BLOCK_PAIRS = 1 << 22  # anchors x GT pairs per IoU block; bounds memory on dense Waymo grids


@dataclass
class AnchorTargets:
    """Targets of a batch of anchors.

    Attributes:
        labels: (B, N) long: class id (>= 1) for positives, 0 for negatives, -1 for ignored anchors.
        box_targets: (B, N, 7) residuals of the matched GT box (zeros where not positive).
        matched_boxes: (B, N, 7) the matched GT box of each positive anchor (zeros elsewhere).
    """

    labels: Tensor
    box_targets: Tensor
    matched_boxes: Tensor


class TargetAssigner:
    """Assign GT boxes to a fixed set of anchors (one per feature-map cell, class and rotation)."""

    def __init__(self, cfg: ModelConfig, anchors: Tensor, anchor_classes: Tensor):
        """``anchors`` (N, 7) and ``anchor_classes`` (N,) long, the 1-based class of every anchor (see
        ``generate_anchors``)."""
        self.anchors = anchors
        self.rotated = cfg.anchor_head.matching_iou == "rotated"
        self.classes = []  # (class id, anchor indices, their rectangles, matched and unmatched thresholds)
        for entry in cfg.anchor_head.anchors:
            class_id = cfg.class_names.index(entry.class_name) + 1
            index = torch.nonzero(anchor_classes == class_id).flatten()
            rectangles = None if self.rotated else _nearest_axis_rectangles(anchors[index])
            self.classes.append((class_id, index, rectangles, entry.matched_threshold, entry.unmatched_threshold))

    def assign(self, gt_boxes: Tensor) -> AnchorTargets:
        """Targets for a padded batch of ``gt_boxes`` (B, M, 8) ``[box, class_id]`` (class_id 0 = padding)."""
        per_frame = [self._assign_frame(frame) for frame in gt_boxes]
        labels, matched = (torch.stack(x) for x in zip(*per_frame))
        frame, anchor = torch.nonzero(labels > 0, as_tuple=True)  # encode the positives only
        targets = torch.zeros_like(matched)
        targets[frame, anchor] = encode_boxes(matched[frame, anchor], self.anchors[anchor])
        return AnchorTargets(labels, targets, matched)

    def _assign_frame(self, gt: Tensor) -> tuple[Tensor, Tensor]:
        n = self.anchors.shape[0]
        labels = torch.zeros(n, dtype=torch.long, device=self.anchors.device)
        matched = self.anchors.new_zeros(n, 7)
        gt_classes = gt[:, 7].long()
        for class_id, index, rectangles, matched_threshold, unmatched_threshold in self.classes:
            own = gt[gt_classes == class_id, :7]
            if own.shape[0] == 0:
                continue
            best_iou, best_gt, forced = self._match(index, rectangles, own)
            positive = (best_iou >= matched_threshold) | forced
            class_labels = torch.where(positive, class_id, 0)
            class_labels[(best_iou >= unmatched_threshold) & ~positive] = -1
            labels[index] = class_labels
            matched[index[positive]] = own[best_gt[positive]]
        return labels, matched

    def _match(self, index: Tensor, rectangles: Tensor | None, gt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """For the anchors ``index`` of one class and that class's GT boxes (G, 7): each anchor's best IoU and GT,
        and whether it is one of the best anchors of some GT (ties included) that it overlaps at all."""
        n = index.shape[0]
        # One block in the usual case; dense grids with many boxes take two passes over anchor blocks instead.
        blocks = list(self._iou_blocks(index, rectangles, gt)) if n * gt.shape[0] <= _BLOCK_PAIRS else None

        def iou_blocks():
            return blocks if blocks is not None else self._iou_blocks(index, rectangles, gt)

        best_iou = gt.new_zeros(n)
        best_gt = torch.zeros(n, dtype=torch.long, device=gt.device)
        gt_best = gt.new_zeros(gt.shape[0])
        for start, iou in iou_blocks():
            value, which = iou.max(dim=1)
            best_iou[start:start + len(value)], best_gt[start:start + len(value)] = value, which
            gt_best = torch.maximum(gt_best, iou.max(dim=0).values)
        forced = torch.zeros(n, dtype=torch.bool, device=gt.device)
        claimable = gt_best > 0
        for start, iou in iou_blocks():
            forced[start:start + iou.shape[0]] = ((iou == gt_best[None]) & claimable[None]).any(dim=1)
        return best_iou, best_gt, forced

    def _iou_blocks(self, index: Tensor, rectangles: Tensor | None, gt: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield ``(start, iou)``: BEV IoU (n, G) of consecutive blocks of the anchors ``index`` with ``gt``."""
        step = max(1, _BLOCK_PAIRS // gt.shape[0])
        gt_rectangles = None if self.rotated else _nearest_axis_rectangles(gt)
        for start in range(0, index.shape[0], step):
            if self.rotated:
                yield start, boxes_iou_bev(self.anchors[index[start:start + step]], gt)
            else:
                yield start, _axis_aligned_iou(rectangles[start:start + step], gt_rectangles)


def _nearest_axis_rectangles(boxes: Tensor) -> Tensor:
    """(N, 4) ``(x_min, y_min, x_max, y_max)`` of boxes (N, 7+) turned to the nearer of 0 and 90 degrees."""
    near_90 = limit_period(boxes[:, 6], 0.5, math.pi).abs() > math.pi / 4
    half = torch.where(near_90[:, None], boxes[:, [4, 3]], boxes[:, [3, 4]]) / 2
    return torch.cat((boxes[:, :2] - half, boxes[:, :2] + half), dim=1)


def _axis_aligned_iou(a: Tensor, b: Tensor) -> Tensor:
    """(N, M) IoU of axis-aligned rectangles a (N, 4) and b (M, 4) ``(x_min, y_min, x_max, y_max)``."""
    wh = (torch.minimum(a[:, None, 2:], b[None, :, 2:]) - torch.maximum(a[:, None, :2], b[None, :, :2])).clamp_min(0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None] - inter).clamp_min(1e-8)
