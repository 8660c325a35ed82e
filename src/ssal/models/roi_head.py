"""The class-agnostic second stage: rotated RoI-grid pooling from the BEV map, a shared MLP giving the RoI feature,
an IoU-guided confidence and a box refinement in the RoI's canonical frame (PV-RCNN's head on a BEV map).

Pooling: ``grid_size x grid_size`` points spread over each RoI (enlarged by ``pool_extra_width`` on every side) in
its own frame are turned by its heading, moved to its centre and sampled bilinearly from the (channel-reduced)
BEV map with ``grid_sample``. With ``pool_pillar_map`` the same grid is also sampled from the pillar map (the VFE's
output at pillar resolution, finer than the backbone's strided map) and each sample reduced by a linear layer. The
pooled grid(s) and the RoI's height and size ``(z, dx, dy, dz)`` enter the MLP.

With ``point_grid`` the RoI is also described by its own points binned in its frame (``ssal.models.roi_point_grid``),
where a cue of a few centimetres survives; with ``point_grid_shared`` that grid enters the MLP too. The direction
check (``direction_check``) reads the shared feature detached, so its loss never bends the feature the score and
the box come from (trained through it, the check cost 5-7 points of Car 3-D AP, docs/results.md), and the grid.

Dropout follows the hidden layers of the shared MLP (not the RoI feature itself) and the first layer of each branch,
as in OpenPCDet (MC-dropout and BADGE read these layers); it is on in training and, for MC-dropout, in eval when the
detector asks for it. Given ``dropout_seeds`` (one per frame, see ``ssal.models.hashing.frame_seeds``), the masks are
a hash of (frame seed, layer, RoI slot, channel) computed on the model's device: a frame's masks, hence its
MC-dropout value, do not depend on the batch it is in, its place there, or the number of ranks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ssal.geometry import limit_period, rotate_points_z
from ssal.models.box_coder import CODE_SIZE, decode_boxes
from ssal.models.config import ModelConfig
from ssal.models.hashing import uniform_from_hash
from ssal.models.losses import corner_loss, smooth_l1
from ssal.models.pillar_map import PillarMap
from ssal.models.pointwise import Conv1x1
from ssal.models.roi_point_grid import point_grid_channels
from ssal.models.roi_target_sampler import RoiTargets


@dataclass
class RoiHeadOutput:
    """Per-RoI outputs for RoIs (B, R, 7).

    Attributes:
        features: (B, R, F) the shared RoI feature (F = ``shared_fc[-1]``, 256 by default).
        cls_logits: (B, R) logit of the IoU-guided confidence.
        cls_hidden: (B, R, H) input of the confidence's last linear layer (for gradient embeddings).
        box_residuals: (B, R, 7) refinement residuals in the RoI's canonical frame.
        flip_logits: (B, R) logit that the object faces opposite its RoI (``roi_head.direction_check``, on a branch
            of its own), or None.
    """

    features: Tensor
    cls_logits: Tensor
    cls_hidden: Tensor
    box_residuals: Tensor
    flip_logits: Tensor | None = None


def roi_grid_points(rois: Tensor, grid_size: int, extra_width: float = 0.0) -> Tensor:
    """(..., grid_size**2, 2) BEV positions of the pooling grid of ``rois`` (..., 7): cell centres of a
    ``grid_size``-square grid over the RoI enlarged by ``extra_width`` per side, row-major in (local x, local y)."""
    steps = (torch.arange(grid_size, device=rois.device, dtype=rois.dtype) + 0.5) / grid_size - 0.5
    u, v = torch.meshgrid(steps, steps, indexing="ij")
    unit = torch.stack((u.flatten(), v.flatten()), dim=-1)  # (G*G, 2)
    flat = rois.reshape(-1, rois.shape[-1])
    size = flat[:, 3:5] + 2 * extra_width
    local = unit[None] * size[:, None, :]
    points = rotate_points_z(local, flat[:, 6]) + flat[:, None, 0:2]
    return points.view(*rois.shape[:-1], grid_size * grid_size, 2)


def refine_boxes(rois: Tensor, residuals: Tensor) -> Tensor:
    """(..., 7) boxes from canonical ``residuals`` (..., 7) applied to ``rois`` (..., 7)."""
    flat_rois, flat_res = rois.reshape(-1, 7), residuals.reshape(-1, 7)
    reference = torch.cat((torch.zeros_like(flat_rois[:, :3]), flat_rois[:, 3:6],
                           torch.zeros_like(flat_rois[:, 6:])), dim=1)
    local = decode_boxes(flat_res, reference)
    xyz = rotate_points_z(local[:, None, :3], flat_rois[:, 6])[:, 0] + flat_rois[:, :3]
    boxes = torch.cat((xyz, local[:, 3:6], local[:, 6:7] + flat_rois[:, 6:7]), dim=1)
    return boxes.view(rois.shape)


def faces_backwards(rois: Tensor, gt_boxes: Tensor) -> Tensor:
    """(...) bool: the GT heading differs from the RoI's by more than 90 degrees (the box must be turned round)."""
    return limit_period(gt_boxes[..., 6] - rois[..., 6], 0.5, 2 * math.pi).abs() > math.pi / 2


def turn_round(boxes: Tensor, flip_logits: Tensor | None) -> Tensor:
    """``boxes`` (..., 7) turned by pi where ``flip_logits`` (...) is positive; unchanged without logits."""
    if flip_logits is None:
        return boxes
    heading = boxes[..., 6:7] + math.pi * (flip_logits[..., None] > 0).to(boxes.dtype)
    return torch.cat((boxes[..., :6], heading), dim=-1)


def _mlp(widths: list[int], in_channels: int, momentum: float) -> tuple[nn.ModuleList, int]:
    layers = nn.ModuleList()
    for width in widths:
        layers.append(nn.Sequential(nn.Linear(in_channels, width, bias=False),
                                    nn.BatchNorm1d(width, eps=1e-3, momentum=momentum), nn.ReLU()))
        in_channels = width
    return layers, in_channels


class RoiHead(nn.Module):
    """BEV map (B, C, H, W) + RoIs (B, R, 7) [+ pillar map (B, P, H', W') or its pillars, a ``PillarMap``] ->
    ``RoiHeadOutput``.

    ``pillar_channels`` is the pillar map's channel count; give it when ``roi_head.pool_pillar_map`` is on."""

    def __init__(self, cfg: ModelConfig, in_channels: int, pillar_channels: int | None = None):
        super().__init__()
        self.cfg = cfg
        h = cfg.roi_head
        if h.pool_pillar_map and pillar_channels is None:
            raise ValueError("roi_head.pool_pillar_map needs the pillar map's channel count")
        self.reduce = nn.Sequential(Conv1x1(in_channels, h.pool_channels, bias=False),
                                    nn.BatchNorm2d(h.pool_channels, eps=1e-3, momentum=cfg.bn_momentum), nn.ReLU())
        self.reduce_pillars = None
        if h.pool_pillar_map:  # per sample, not over the map: G*G samples per RoI are far fewer than the map's cells
            self.reduce_pillars = nn.Sequential(nn.Linear(pillar_channels, h.pool_channels, bias=False),
                                                nn.BatchNorm1d(h.pool_channels, eps=1e-3, momentum=cfg.bn_momentum),
                                                nn.ReLU())
        maps = 2 if h.pool_pillar_map else 1
        grid = point_grid_channels(h.point_grid) if h.point_grid else 0
        pooled = maps * h.pool_channels * h.grid_size**2 + 4 + (grid if h.point_grid_shared else 0)
        self.shared, self.feature_channels = _mlp(h.shared_fc, pooled, cfg.bn_momentum)
        self.cls_layers, cls_in = _mlp(h.cls_fc, self.feature_channels, cfg.bn_momentum)
        self.reg_layers, reg_in = _mlp(h.reg_fc, self.feature_channels, cfg.bn_momentum)
        self.cls_out = nn.Linear(cls_in, 1)
        self.reg_out = nn.Linear(reg_in, CODE_SIZE)
        self.dir_layers, self.flip_out = None, None
        if h.direction_check:
            self.dir_layers, dir_in = _mlp(h.direction_fc, self.feature_channels + grid, cfg.bn_momentum)
            self.flip_out = nn.Linear(dir_in, 1)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.reg_out.weight, mean=0.0, std=0.001)
        self.mc_dropout = False  # set by the detector: dropout stays on in eval mode

    def forward(self, bev: Tensor, rois: Tensor, dropout_seeds: Tensor | None = None,
                pillar_map: Tensor | PillarMap | None = None, point_grid: Tensor | None = None) -> RoiHeadOutput:
        """``dropout_seeds`` (B,) int64 draws the dropout masks per frame; without it torch's global generator
        draws them. ``pillar_map`` is required with ``roi_head.pool_pillar_map``, ``point_grid`` (B, R, F), the
        RoIs' ``roi_point_grid``, when the head reads ``roi_head.point_grid``."""
        b, r = rois.shape[:2]
        pooled = self.pool(self.reduce(bev), rois).reshape(b * r, -1)
        if self.reduce_pillars is not None:
            if pillar_map is None:
                raise ValueError("roi_head.pool_pillar_map is on: pass the pillar map")
            samples = self.pool(pillar_map, rois)  # (B, R, G*G, P)
            fine = self.reduce_pillars(samples.reshape(-1, samples.shape[-1]).to(pooled.dtype))
            pooled = torch.cat((pooled, fine.reshape(b * r, -1)), dim=1)
        geometry = torch.cat((rois[..., 2:3], rois[..., 3:6]), dim=-1).reshape(b * r, 4).to(pooled.dtype)
        x = torch.cat((pooled, geometry), dim=1)
        if self.cfg.roi_head.point_grid_shared:
            x = torch.cat((x, self._flat_grid(point_grid, x)), dim=1)
        layer = 0
        for k, module in enumerate(self.shared):
            x = module(x)
            if k < len(self.shared) - 1:
                x, layer = self._dropout(x, b, dropout_seeds, layer), layer + 1
        features = x
        hidden = self._branch(self.cls_layers, features, b, dropout_seeds, layer)
        reg_hidden = self._branch(self.reg_layers, features, b, dropout_seeds, layer + 1)
        flip = None
        if self.flip_out is not None:
            flip = self.flip_out(self._branch(self.dir_layers, self._check_input(features, point_grid), b,
                                              dropout_seeds, layer + 2)).view(b, r)
        return RoiHeadOutput(features.view(b, r, -1), self.cls_out(hidden).view(b, r), hidden.view(b, r, -1),
                             self.reg_out(reg_hidden).view(b, r, CODE_SIZE), flip)

    def _check_input(self, features: Tensor, point_grid: Tensor | None) -> Tensor:
        """What the direction check reads: the shared feature, detached, and the RoIs' point grid when configured."""
        if not self.cfg.roi_head.point_grid:
            return features.detach()
        return torch.cat((features.detach(), self._flat_grid(point_grid, features)), dim=1)

    def _flat_grid(self, point_grid: Tensor | None, like: Tensor) -> Tensor:
        if point_grid is None:
            raise ValueError("roi_head.point_grid is set: pass the RoIs' point grid")
        return point_grid.reshape(like.shape[0], -1).to(like.dtype)

    def pool(self, bev: Tensor | PillarMap, rois: Tensor) -> Tensor:
        """(B, R, G*G, C) bilinear samples of ``bev`` (B, C, H, W), a map over the point-cloud range at any
        resolution, or of a ``PillarMap``, at the grid points of ``rois`` (B, R, 7)."""
        h = self.cfg.roi_head
        x0, y0, _, x1, y1, _ = self.cfg.point_cloud_range
        points = roi_grid_points(rois, h.grid_size, h.pool_extra_width)  # (B, R, G*G, 2)
        low = points.new_tensor([x0, y0])
        extent = points.new_tensor([x1 - x0, y1 - y0])
        # The map covers the range edge to edge, hence align_corners=False; outside it reads zeros.
        grid = (points.float() - low.float()) / extent.float() * 2 - 1
        # float32 grid even under autocast: a bfloat16 grid over a 70 m map misplaces samples by several cm.
        with torch.autocast(device_type=grid.device.type, enabled=False):
            if isinstance(bev, PillarMap):
                return bev.sample(grid)
            sampled = F.grid_sample(bev.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return sampled.permute(0, 2, 3, 1)

    def _branch(self, layers: nn.ModuleList, x: Tensor, batch: int, seeds: Tensor | None, layer: int) -> Tensor:
        for k, module in enumerate(layers):
            x = module(x)
            if k == 0:  # OpenPCDet: dropout after a branch's first layer only
                x = self._dropout(x, batch, seeds, layer)
        return x

    def _dropout(self, x: Tensor, batch: int, seeds: Tensor | None, layer: int) -> Tensor:
        """Dropout of ``x`` (B * R, C); with ``seeds`` (B,) the mask of frame b depends on ``seeds[b]``, ``layer``
        and the position in (R, C) only."""
        p = self.cfg.roi_head.dropout
        if p == 0.0 or not (self.training or self.mc_dropout):
            return x
        if seeds is None:
            return F.dropout(x, p, training=True)
        draws = uniform_from_hash(seeds, layer, (x.shape[0] // batch, x.shape[1])).view_as(x)
        keep = draws >= int(p * 2**32)
        return x * keep.to(x.dtype) * (1.0 / (1.0 - p))

    def loss(self, out: RoiHeadOutput, targets: RoiTargets) -> dict[str, Tensor]:
        """``loss_rcnn_cls`` (BCE on the IoU target), ``loss_rcnn_reg`` (smooth-L1 on foreground residuals) and
        ``loss_rcnn_corner`` (corner distance of refined foreground boxes), each a mean over its RoIs; with the
        direction check also ``loss_rcnn_dir`` (BCE: does the foreground RoI face opposite its GT)."""
        h = self.cfg.roi_head
        loss_cls = F.binary_cross_entropy_with_logits(out.cls_logits, targets.cls_targets)
        fg = targets.reg_mask
        count = fg.sum().clamp_min(1)
        reg = smooth_l1(out.box_residuals, targets.reg_targets, h.smooth_l1_beta).sum(dim=-1)
        loss_reg = (reg * fg).sum() / count
        refined = refine_boxes(targets.rois[fg], out.box_residuals[fg])
        loss_corner = corner_loss(refined, targets.gt_boxes[fg]).sum() / count
        losses = {"loss_rcnn_cls": loss_cls * h.cls_weight, "loss_rcnn_reg": loss_reg * h.reg_weight,
                  "loss_rcnn_corner": loss_corner * h.corner_weight}
        if out.flip_logits is not None:
            backwards = faces_backwards(targets.rois, targets.gt_boxes).to(out.flip_logits.dtype)
            loss_dir = F.binary_cross_entropy_with_logits(out.flip_logits, backwards, reduction="none")
            losses["loss_rcnn_dir"] = (loss_dir * fg).sum() / count * h.direction_weight
        return losses
