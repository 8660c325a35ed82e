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

import torch
from torch import Tensor

from ssal.geometry import boxes_iou_bev, limit_period
from ssal.geometry.sweep import bev_half_extents
from ssal.models.box_coder import encode_boxes
from ssal.models.config import ModelConfig


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
        self.classes = []  # (class id, anchor indices, their rectangles or boxes, search grid, thresholds)
        for entry in cfg.anchor_head.anchors:
            class_id = cfg.class_names.index(entry.class_name) + 1
            index = torch.nonzero(anchor_classes == class_id).flatten()
            shapes = anchors[index] if self.rotated else _nearest_axis_rectangles(anchors[index])
            self.classes.append((class_id, index, shapes, _AnchorColumns(self._reach(shapes)),
                                 entry.matched_threshold, entry.unmatched_threshold))

    def assign(self, gt_boxes: Tensor) -> AnchorTargets:
        """Targets for a padded batch of ``gt_boxes`` (B, M, 8) ``[box, class_id]`` (class_id 0 = padding). Each
        frame is assigned on its own; the frames of a class are matched together (one search and one set of
        scatters per class, not per frame and class: a step's Python-side cost)."""
        batch, n = gt_boxes.shape[0], self.anchors.shape[0]
        labels = torch.zeros(batch * n, dtype=torch.long, device=self.anchors.device)
        matched = self.anchors.new_zeros(batch * n, 7)
        gt_classes = gt_boxes[..., 7].long()
        frames = torch.arange(batch, device=self.anchors.device)[:, None] * n
        for class_id, index, shapes, columns, matched_threshold, unmatched_threshold in self.classes:
            frame, row = torch.nonzero(gt_classes == class_id, as_tuple=True)  # frame-major, each frame in order
            if frame.numel() == 0:
                continue
            own = gt_boxes[frame, row, :7]
            best_iou, best_gt, forced = self._match(shapes, columns, own, frame, batch)
            positive = (best_iou >= matched_threshold) | forced
            class_labels = torch.where(positive, class_id, 0)
            class_labels[(best_iou >= unmatched_threshold) & ~positive] = -1
            slots = (frames + index[None, :]).flatten()  # (frame, anchor) of this class, frame-major
            labels[slots] = class_labels
            matched[slots[positive]] = own[best_gt[positive]]
        labels, matched = labels.view(batch, n), matched.view(batch, n, 7)
        frame, anchor = torch.nonzero(labels > 0, as_tuple=True)  # encode the positives only
        targets = torch.zeros_like(matched)
        targets[frame, anchor] = encode_boxes(matched[frame, anchor], self.anchors[anchor])
        return AnchorTargets(labels, targets, matched)

    def _match(self, shapes: Tensor, columns: _AnchorColumns, gt: Tensor, frame: Tensor, batch: int
               ) -> tuple[Tensor, Tensor, Tensor]:
        """For the anchors of one class (``shapes``: their rectangles, or boxes when rotated) and that class's GT
        boxes (G, 7) of every frame (``frame`` (G,), frame-major): per frame and anchor (B * N, frame-major), the
        best IoU with a GT of the same frame and that GT (the first of equals, as ``argmax`` takes it; 0 where it
        overlaps nothing, which is never positive), and whether it is one of the best anchors of some GT (ties
        included) that it overlaps at all."""
        n, g = shapes.shape[0], gt.shape[0]
        anchor, which, iou = self._overlaps(shapes, columns, gt)
        slot = frame[which] * n + anchor
        best_iou = gt.new_zeros(batch * n).scatter_reduce(0, slot, iou, "amax")
        gt_best = gt.new_zeros(g).scatter_reduce(0, which, iou, "amax")
        top = iou == best_iou[slot]
        best_gt = torch.full((batch * n,), g, dtype=torch.long, device=gt.device).scatter_reduce(
            0, slot[top], which[top], "amin")
        best_gt = torch.where(best_gt == g, 0, best_gt)
        forced = torch.zeros(batch * n, dtype=torch.bool, device=gt.device)
        forced[slot[iou == gt_best[which]]] = True  # every listed pair overlaps, so that GT's best is > 0
        return best_iou, best_gt, forced

    def _overlaps(self, shapes: Tensor, columns: _AnchorColumns, gt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(anchor, gt, iou)``: the pairs of one class's anchors and ``gt`` whose BEV IoU is positive. An anchor
        overlaps only the few GT boxes near it, so only the anchors whose centres can reach a box are tested (a few
        hundred per box) instead of all anchors x all boxes (about a million pairs per class and frame)."""
        if self.rotated:
            anchor, which = columns.near(self._reach(gt))
            iou = boxes_iou_bev(shapes[anchor], gt[which], aligned=True)
        else:
            gt_rectangles = _nearest_axis_rectangles(gt)
            anchor, which = columns.near(self._reach(gt_rectangles))
            iou = _axis_aligned_iou(shapes[anchor], gt_rectangles[which])
        keep = iou > 0
        return anchor[keep], which[keep], iou[keep]

    def _reach(self, shapes: Tensor) -> Tensor:
        """(N, 4) centre x, y and half extents along x, y of what each rectangle or (rotated) box covers."""
        if self.rotated:
            return torch.cat((shapes[:, :2], bev_half_extents(shapes)), dim=1)
        return torch.cat(((shapes[:, :2] + shapes[:, 2:]) / 2, (shapes[:, 2:] - shapes[:, :2]) / 2), dim=1)


class _AnchorColumns:
    """One class's anchors sorted into columns of equal centre x, each column sorted by centre y, so that the
    anchors whose centres lie in an x-range and a y-range are one contiguous run per column: finding every anchor
    that may overlap a box costs a binary search per column it spans, not a test of every anchor."""

    def __init__(self, reach: Tensor):
        """``reach`` (N, 4): the anchors' centre x, y and half extents (``TargetAssigner._reach``)."""
        self.reach = reach
        self.xs, column = torch.unique(reach[:, 0], return_inverse=True)
        self.widest = reach[:, 2:].max(dim=0).values if len(reach) else reach.new_zeros(2)
        self.y0 = float(reach[:, 1].min()) if len(reach) else 0.0
        self.span = float(reach[:, 1].max()) - self.y0 + 1.0 if len(reach) else 1.0
        self.keys, self.order = torch.sort(self._key(column, reach[:, 1]))

    def _key(self, column: Tensor, y: Tensor) -> Tensor:
        """Column-major sort key: column index, then y (float64: exact enough for any grid of metres). A y beyond
        the anchors' is clamped half a metre outside them, so a search never runs into the next column."""
        offset = (y.double() - self.y0).clamp(-0.5, self.span - 0.5)
        return column.double() * self.span + offset

    def near(self, boxes: Tensor) -> tuple[Tensor, Tensor]:
        """``(anchor, box)`` index pairs of every anchor whose extent comes within a millimetre of a box's in x and
        in y (``boxes`` (G, 4) centre and half extents, as ``reach``): a superset of the overlapping pairs, each
        once; the IoU decides afterwards."""
        device = boxes.device
        reach_x = boxes[:, 2] + self.widest[0] + 1e-3
        first = torch.searchsorted(self.xs, boxes[:, 0] - reach_x, side="left")
        spans = torch.searchsorted(self.xs, boxes[:, 0] + reach_x, side="right") - first
        box = torch.repeat_interleave(torch.arange(len(boxes), device=device), spans)
        column = first[box] + _ranks(spans)
        reach_y = boxes[box, 3] + self.widest[1] + 1e-3
        lo = torch.searchsorted(self.keys, self._key(column, boxes[box, 1] - reach_y), side="left")
        hi = torch.searchsorted(self.keys, self._key(column, boxes[box, 1] + reach_y), side="right")
        counts = hi - lo
        pair_box = torch.repeat_interleave(box, counts)
        anchor = self.order[torch.repeat_interleave(lo, counts) + _ranks(counts)]
        close = ((self.reach[anchor, :2] - boxes[pair_box, :2]).abs()
                 < self.reach[anchor, 2:] + boxes[pair_box, 2:] + 1e-3).all(dim=1)
        return anchor[close], pair_box[close]


def _ranks(counts: Tensor) -> Tensor:
    """0, 1, ..., counts[0] - 1, 0, 1, ..., counts[1] - 1, ...: each element's rank within its run."""
    total = int(counts.sum())
    starts = torch.cumsum(counts, dim=0) - counts
    return torch.arange(total, device=counts.device) - torch.repeat_interleave(starts, counts, output_size=total)


def _nearest_axis_rectangles(boxes: Tensor) -> Tensor:
    """(N, 4) ``(x_min, y_min, x_max, y_max)`` of boxes (N, 7+) turned to the nearer of 0 and 90 degrees."""
    near_90 = limit_period(boxes[:, 6], 0.5, math.pi).abs() > math.pi / 4
    half = torch.where(near_90[:, None], boxes[:, [4, 3]], boxes[:, [3, 4]]) / 2
    return torch.cat((boxes[:, :2] - half, boxes[:, :2] + half), dim=1)


def _axis_aligned_iou(a: Tensor, b: Tensor) -> Tensor:
    """(N,) IoU of the row-wise pairs of axis-aligned rectangles a and b (N, 4) ``(x_min, y_min, x_max, y_max)``."""
    wh = (torch.minimum(a[:, 2:], b[:, 2:]) - torch.maximum(a[:, :2], b[:, :2])).clamp_min(0)
    inter = wh[:, 0] * wh[:, 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a + area_b - inter).clamp_min(1e-8)
