"""Final selection of a frame's detections: score threshold, class-agnostic rotated NMS, cap, sorted by score."""

from __future__ import annotations

import torch
from torch import Tensor

from ssal.geometry import nms_bev
from ssal.models.config import PostProcessingConfig


def select_detections(boxes: Tensor, scores: Tensor, cfg: PostProcessingConfig) -> Tensor:
    """Indices (K,) into ``boxes`` (R, 7) / ``scores`` (R,) of the kept detections, by descending score: scores
    >= ``score_threshold``, the best ``pre_max_boxes`` of them through NMS at ``nms_iou``, at most ``max_boxes``."""
    candidates = torch.nonzero(scores >= cfg.score_threshold).flatten()
    order = torch.argsort(scores[candidates], descending=True, stable=True)[:cfg.pre_max_boxes]
    candidates = candidates[order]
    keep = nms_bev(boxes[candidates], scores[candidates], cfg.nms_iou, post_max_size=cfg.max_boxes)
    return candidates[keep[:cfg.max_boxes]]
