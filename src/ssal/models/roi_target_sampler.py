"""Sample the RoIs that train the second stage and give them targets (PV-RCNN's ProposalTargetLayer).

Per frame, RoIs are matched to GT by 3-D IoU (only GT of the RoI's class when ``sample_by_class``); a fixed number
is sampled, up to ``fg_ratio`` of them foreground (IoU >= reg_fg_threshold) and the rest background, most of it
hard (IoU in [cls_bg_threshold_lo, reg_fg_threshold)). The score target rises linearly from 0 at
``cls_bg_threshold`` to 1 at ``cls_fg_threshold``; foreground RoIs also get box-refinement targets expressed in the
RoI's canonical frame (centre at the origin, heading 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ssal.geometry import boxes_iou3d, limit_period, rotate_points_z
from ssal.models.box_coder import encode_boxes
from ssal.models.config import RoiHeadConfig
from ssal.models.proposal_layer import Proposals


@dataclass
class RoiTargets:
    """Sampled RoIs of a batch (S per frame) and their targets.

    Attributes:
        rois: (B, S, 7); labels: (B, S) long RPN class; gt_boxes: (B, S, 7) the matched GT (zeros if none);
        ious: (B, S) 3-D IoU with it; cls_targets: (B, S) in [0, 1]; reg_mask: (B, S) bool foreground;
        reg_targets: (B, S, 7) canonical residuals (meaningful where ``reg_mask``).
    """

    rois: Tensor
    labels: Tensor
    gt_boxes: Tensor
    ious: Tensor
    cls_targets: Tensor
    reg_mask: Tensor
    reg_targets: Tensor


def sample_roi_targets(proposals: Proposals, gt_boxes: Tensor, cfg: RoiHeadConfig,
                       generator: torch.Generator) -> RoiTargets:
    """Sample ``cfg.rois_per_frame`` RoIs per frame from ``proposals`` and match them to ``gt_boxes`` (B, M, 8)
    ``[box, class_id]`` (class 0 = padding). Random choices come from ``generator`` (a CPU generator)."""
    frames = [_sample_frame(proposals.boxes[i][proposals.valid[i]], proposals.labels[i][proposals.valid[i]],
                            gt_boxes[i], cfg, generator) for i in range(gt_boxes.shape[0])]
    rois, labels, gts, ious = (torch.stack(x) for x in zip(*frames))
    span = cfg.cls_fg_threshold - cfg.cls_bg_threshold
    cls_targets = ((ious - cfg.cls_bg_threshold) / span).clamp(0.0, 1.0)
    reg_mask = ious > cfg.reg_fg_threshold
    return RoiTargets(rois, labels, gts, ious, cls_targets, reg_mask, canonical_targets(rois, gts))


def _sample_frame(rois: Tensor, labels: Tensor, gt: Tensor, cfg: RoiHeadConfig,
                  generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    gt = gt[gt[:, 7] > 0]
    if cfg.add_gt_to_rois and gt.shape[0] > 0:
        rois = torch.cat((rois, gt[:, :7]))
        labels = torch.cat((labels, gt[:, 7].long()))
    if rois.shape[0] == 0:
        raise ValueError("no RoI to sample from")  # the proposal layer always keeps at least one box
    if gt.shape[0] == 0:
        best_iou = rois.new_zeros(rois.shape[0])
        matched = rois.new_zeros(rois.shape[0], 7)
    else:
        iou = boxes_iou3d(rois, gt[:, :7])
        if cfg.sample_by_class:
            iou = torch.where(labels[:, None] == gt[None, :, 7].long(), iou, torch.zeros_like(iou))
        best_iou, best_gt = iou.max(dim=1)
        matched = gt[best_gt, :7]
    chosen = _choose(best_iou, cfg, generator).to(rois.device)
    return rois[chosen], labels[chosen], matched[chosen], best_iou[chosen]


def _choose(best_iou: Tensor, cfg: RoiHeadConfig, generator: torch.Generator) -> Tensor:
    """(S,) indices of the sampled RoIs: foreground first, then hard and easy background (CPU tensor)."""
    iou = best_iou.detach().cpu()
    total = cfg.rois_per_frame
    fg_threshold = min(cfg.reg_fg_threshold, cfg.cls_fg_threshold)
    fg = torch.nonzero(iou >= fg_threshold).flatten()
    hard = torch.nonzero((iou < cfg.reg_fg_threshold) & (iou >= cfg.cls_bg_threshold_lo)).flatten()
    easy = torch.nonzero(iou < cfg.cls_bg_threshold_lo).flatten()
    n_bg = hard.numel() + easy.numel()
    if n_bg == 0:
        return fg[_draw(fg.numel(), total, generator)]
    n_fg = min(round(cfg.fg_ratio * total), fg.numel())
    chosen_fg = fg[torch.randperm(fg.numel(), generator=generator)[:n_fg]]
    return torch.cat((chosen_fg, _background(hard, easy, total - n_fg, cfg.hard_bg_ratio, generator)))


def _background(hard: Tensor, easy: Tensor, count: int, hard_ratio: float, generator: torch.Generator) -> Tensor:
    """``count`` background indices, ``hard_ratio`` of them hard when both kinds exist (drawn with replacement)."""
    if hard.numel() == 0:
        return easy[_draw(easy.numel(), count, generator)]
    if easy.numel() == 0:
        return hard[_draw(hard.numel(), count, generator)]
    n_hard = min(int(count * hard_ratio), hard.numel())
    return torch.cat((hard[_draw(hard.numel(), n_hard, generator)],
                      easy[_draw(easy.numel(), count - n_hard, generator)]))


def _draw(population: int, count: int, generator: torch.Generator) -> Tensor:
    """``count`` indices below ``population``, with replacement (there may be fewer candidates than slots)."""
    return torch.randint(population, (count,), generator=generator)


def canonical_targets(rois: Tensor, gt_boxes: Tensor) -> Tensor:
    """(..., 7) residuals of ``gt_boxes`` (..., 7) in the canonical frame of ``rois`` (..., 7).

    The GT is moved to the RoI's centre and turned by minus the RoI's heading; its heading is then flipped by pi
    when it points backwards and clamped to [-pi/2, pi/2], so the refinement never has to turn a box around.
    """
    shape = rois.shape
    rois, gt = rois.reshape(-1, 7), gt_boxes.reshape(-1, 7)
    local_xyz = rotate_points_z((gt[:, None, :3] - rois[:, None, :3]), -rois[:, 6])[:, 0]
    heading = limit_period(gt[:, 6] - rois[:, 6], 0.5, 2 * math.pi)  # (-pi, pi]
    heading = limit_period(heading, 0.5, math.pi).clamp(-math.pi / 2, math.pi / 2)  # backwards -> forwards
    local = torch.cat((local_xyz, gt[:, 3:6], heading[:, None]), dim=1)
    reference = torch.cat((torch.zeros_like(rois[:, :3]), rois[:, 3:6], torch.zeros_like(rois[:, 6:])), dim=1)
    return encode_boxes(local, reference).view(shape)
