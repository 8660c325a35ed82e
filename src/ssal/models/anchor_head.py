"""The anchor region-proposal head (OpenPCDet AnchorHeadSingle): a 1x1 conv predicts, for every anchor, class
logits, box residuals and direction-bin logits; its losses are sigmoid focal, smooth-L1 with sin-difference
and direction cross-entropy, normalised by the number of positive anchors of each frame."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ssal.geometry import limit_period
from ssal.models.anchors import anchors_per_location, generate_anchors
from ssal.models.box_coder import CODE_SIZE, add_sin_difference, decode_boxes
from ssal.models.config import ModelConfig
from ssal.models.losses import direction_loss, sigmoid_focal_loss, weighted_smooth_l1
from ssal.models.pointwise import Conv1x1
from ssal.models.target_assigner import AnchorTargets, TargetAssigner


@dataclass
class RpnOutput:
    """Raw RPN predictions for a batch of B frames over N anchors.

    Attributes:
        cls_logits: (B, N, C) per-class logits; box_residuals: (B, N, 7); dir_logits: (B, N, num_dir_bins).
    """

    cls_logits: Tensor
    box_residuals: Tensor
    dir_logits: Tensor


class AnchorHead(nn.Module):
    """(B, C_in, ny_f, nx_f) BEV features -> per-anchor predictions; owns the anchors and assigns their targets."""

    def __init__(self, cfg: ModelConfig, in_channels: int):
        super().__init__()
        self.cfg = cfg
        self.num_classes = len(cfg.class_names)
        self.num_anchors = anchors_per_location(cfg)
        self.num_dir_bins = cfg.anchor_head.num_dir_bins
        # One 1x1 conv for the three outputs (a single pass over the map is about twice as fast on CPU as three);
        # its channels are (anchor, [class logits, box residuals, direction logits]).
        self.per_anchor = self.num_classes + CODE_SIZE + self.num_dir_bins
        self.conv = Conv1x1(in_channels, self.num_anchors * self.per_anchor)
        weight = self.conv.weight.view(self.num_anchors, self.per_anchor, -1)
        bias = self.conv.bias.view(self.num_anchors, self.per_anchor)
        with torch.no_grad():
            # Every anchor starts at a 1 % foreground probability, so the focal loss is not swamped at step one,
            # and at its anchor box.
            bias[:, :self.num_classes] = -math.log((1 - 0.01) / 0.01)
            box = slice(self.num_classes, self.num_classes + CODE_SIZE)
            weight[:, box].normal_(0.0, 0.001)
            bias[:, box] = 0.0
        nx, ny = cfg.grid_size
        self.feature_size = (nx // cfg.feature_stride, ny // cfg.feature_stride)
        anchors, classes = generate_anchors(cfg, self.feature_size)
        self.register_buffer("anchors", anchors, persistent=False)
        self.register_buffer("anchor_classes", classes, persistent=False)
        self._assigner: TargetAssigner | None = None  # built on first use, again after the anchors move

    def forward(self, features: Tensor) -> RpnOutput:
        out = self.conv(features).permute(0, 2, 3, 1).reshape(features.shape[0], -1, self.per_anchor)
        cls, box, direction = out.split([self.num_classes, CODE_SIZE, self.num_dir_bins], dim=-1)
        return RpnOutput(cls, box, direction)

    def decode(self, out: RpnOutput, index: Tensor | None = None) -> Tensor:
        """(B, N, 7) boxes: residuals applied to the anchors, heading resolved by the direction classifier; with
        ``index`` (B, K) long, only those anchors of each frame, (B, K, 7) (proposals decode their top-k only)."""
        residuals, dir_logits, anchors = out.box_residuals, out.dir_logits, self.anchors[None]
        if index is not None:
            residuals = residuals.gather(1, index[..., None].expand(-1, -1, residuals.shape[-1]))
            dir_logits = dir_logits.gather(1, index[..., None].expand(-1, -1, dir_logits.shape[-1]))
            anchors = self.anchors[index]
        boxes = decode_boxes(residuals, anchors.expand(residuals.shape[0], -1, -1))
        period = 2 * math.pi / self.num_dir_bins
        offset = self.cfg.anchor_head.dir_offset
        bins = dir_logits.argmax(dim=-1)
        heading = limit_period(boxes[..., 6] - offset, 0.0, period) + offset + period * bins.to(boxes.dtype)
        return torch.cat((boxes[..., :6], heading[..., None]), dim=-1)

    def assign_targets(self, gt_boxes: Tensor) -> AnchorTargets:
        """Targets for a padded batch of GT boxes (B, M, 8)."""
        if self._assigner is None or self._assigner.anchors is not self.anchors:
            self._assigner = TargetAssigner(self.cfg, self.anchors, self.anchor_classes)
        return self._assigner.assign(gt_boxes)

    def loss(self, out: RpnOutput, targets: AnchorTargets) -> dict[str, Tensor]:
        """``loss_rpn_cls``, ``loss_rpn_box``, ``loss_rpn_dir``: weighted sums per frame, averaged over frames. The
        box and direction terms weigh only positive anchors, so they are computed on those alone."""
        h = self.cfg.anchor_head
        labels = targets.labels
        b = labels.shape[0]
        positive = (labels > 0).to(out.cls_logits.dtype)
        negative = (labels == 0).to(out.cls_logits.dtype)
        normaliser = positive.sum(dim=1, keepdim=True).clamp_min(1.0)
        cls_weights = (positive + negative) / normaliser
        reg_weights = positive / normaliser
        one_hot = torch.zeros_like(out.cls_logits)
        one_hot.scatter_(-1, (labels.clamp_min(1) - 1)[..., None], positive[..., None])
        loss_cls = sigmoid_focal_loss(out.cls_logits, one_hot, cls_weights, h.focal_alpha, h.focal_gamma).sum() / b

        index = torch.nonzero(labels > 0, as_tuple=True)
        weights = reg_weights[index]
        pred, target = add_sin_difference(out.box_residuals[index], targets.box_targets[index])
        loss_box = weighted_smooth_l1(pred, target, weights, h.smooth_l1_beta).sum() / b

        bins = direction_bins(targets.matched_boxes[index][:, 6], h.dir_offset, self.num_dir_bins)
        loss_dir = direction_loss(out.dir_logits[index], bins, weights).sum() / b
        return {"loss_rpn_cls": loss_cls * h.cls_weight, "loss_rpn_box": loss_box * h.box_weight,
                "loss_rpn_dir": loss_dir * h.dir_weight}


def direction_bins(heading: Tensor, offset: float, num_bins: int) -> Tensor:
    """(...) long: which of ``num_bins`` equal sectors, starting at ``offset``, each heading (...) falls in."""
    angle = limit_period(heading - offset, 0.0, 2 * math.pi)
    return torch.floor(angle / (2 * math.pi / num_bins)).long().clamp(0, num_bins - 1)
