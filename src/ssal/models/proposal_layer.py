"""From dense RPN predictions to a fixed number of RoIs per frame: top-k by class score, rotated NMS, pad."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ssal.geometry import nms_bev


@dataclass
class Proposals:
    """RoIs of a batch, padded to R per frame (padding rows are all zero and not ``valid``).

    Attributes:
        boxes: (B, R, 7); scores: (B, R) best class probability; labels: (B, R) long, 1-based RPN class;
        cls_probs: (B, R, C) sigmoid class probabilities; valid: (B, R) bool.
    """

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    cls_probs: Tensor
    valid: Tensor


@torch.no_grad()
def propose(cls_logits: Tensor, decode: Callable[[Tensor], Tensor], pre_nms: int, post_nms: int,
            nms_iou: float) -> Proposals:
    """Select RoIs from dense RPN ``cls_logits`` (B, N, C): per frame, the ``pre_nms`` best-scoring anchors are
    decoded (``decode(index (B, K)) -> boxes (B, K, 7)``; the rest never are) and enter a class-agnostic rotated NMS
    at ``nms_iou``; the best ``post_nms`` survivors are kept. Returns proposals sorted by descending score,
    R = ``post_nms``."""
    b, n, c = cls_logits.shape
    scores, labels = cls_logits.max(dim=-1)  # the sigmoid is monotonic: rank logits, squash the chosen few
    top = torch.topk(scores, min(pre_nms, n), dim=1).indices  # (B, K), best first
    boxes = decode(top)
    probs = torch.sigmoid(cls_logits.gather(1, top[..., None].expand(-1, -1, c)))
    scores, labels = torch.sigmoid(scores.gather(1, top)), labels.gather(1, top)
    out = Proposals(boxes.new_zeros(b, post_nms, 7), scores.new_zeros(b, post_nms),
                    labels.new_zeros(b, post_nms), probs.new_zeros(b, post_nms, c),
                    torch.zeros(b, post_nms, dtype=torch.bool, device=boxes.device))
    for i in range(b):
        keep = nms_bev(boxes[i], scores[i], nms_iou, post_max_size=post_nms)[:post_nms]
        k = keep.numel()
        out.boxes[i, :k] = boxes[i, keep]
        out.scores[i, :k] = scores[i, keep]
        out.labels[i, :k] = labels[i, keep] + 1
        out.cls_probs[i, :k] = probs[i, keep]
        out.valid[i, :k] = True
    return out
