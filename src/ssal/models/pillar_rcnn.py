"""``pillar_rcnn``: PV-RCNN's two-stage structure in plain PyTorch, on pillars.

pillars (PFN) -> BEV canvas -> 2-D backbone -> anchor RPN -> proposals (top-k + rotated NMS) -> class-agnostic
RoI head (rotated RoI-grid pooling from the BEV map, optionally also from the pillar map, 256-d RoI feature,
IoU-guided score, box refinement).

Batch (built by the data loader)::

    {"points": (P, 1 + F) [batch_index, x, y, z, intensity, ...], "batch_size": B,
     "gt_boxes": (B, M, 8) [x, y, z, dx, dy, dz, heading, class_id] (1-based, zero rows pad; training only),
     "frame_ids": list[str]}

Training mode returns ``(loss, logs)`` with the six loss terms; eval mode returns one dict per frame:
``boxes (K, 7)``, ``scores (K,)`` (sigmoid of the IoU-guided confidence), ``labels (K,)`` (1-based RPN class of the
proposal), ``cls_probs (K, C)`` (the proposal's RPN class probabilities), ``roi_features (K, 256)`` and
``roi_indices (K,)`` (which of the frame's proposals each box refines; proposals do not depend on dropout, so the
same index across MC-dropout passes is the same RoI), sorted by score, on the model's device. With
``return_hidden=True`` also ``rcnn_logits (K,)`` and ``rcnn_hidden (K, H)`` (see ``gradient_embedding``).

Randomness: RoI sampling draws from a generator seeded by ``(seed, training step, frame ids)``; dropout masks are
drawn per frame from ``(seed, training step, frame id)`` (MC-dropout: ``(mc seed, pass, frame id)``), so a frame's
masks do not depend on its batch. The step counter is a buffer, so it is saved with the weights and a resumed run
draws what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
from functools import partial

import torch
from torch import Tensor, nn

from ssal.errors import SsalError
from ssal.geometry import limit_period
from ssal.models.anchor_head import AnchorHead, RpnOutput
from ssal.models.bev_backbone import BevBackbone
from ssal.models.config import ModelConfig
from ssal.models.hashing import frame_seeds
from ssal.models.map_to_bev import scatter_to_bev
from ssal.models.pillar_map import PillarMap
from ssal.models.pillar_vfe import PillarVFE, pillarize
from ssal.models.post_processing import select_detections
from ssal.models.proposal_layer import Proposals, propose
from ssal.models.roi_head import RoiHead, RoiHeadOutput, refine_boxes, turn_round
from ssal.models.roi_point_grid import roi_point_grid
from ssal.models.roi_target_sampler import sample_roi_targets


class PillarRCNN(nn.Module):
    """The detector; build it with ``ssal.models.build_detector(cfg, seed)``."""

    def __init__(self, cfg: ModelConfig, seed: int = 0):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.seed = seed
        self.vfe = PillarVFE(cfg)
        self.backbone = BevBackbone(cfg.backbone, self.vfe.out_channels, cfg.bn_momentum)
        self.anchor_head = AnchorHead(cfg, self.backbone.out_channels)
        self.roi_head = RoiHead(cfg, self.backbone.out_channels, self.vfe.out_channels)
        self.register_buffer("train_step", torch.zeros((), dtype=torch.long))
        self._mc_seed: int | None = None
        self._mc_pass = 0

    def enable_mc_dropout(self, enabled: bool = True, seed: int = 0) -> None:
        """Keep the RoI head's dropout on in eval mode (MC-dropout). Pass k after this call draws each frame's masks
        from ``(seed, k, frame id)``, so a series of passes repeats exactly and a frame's values do not depend on the
        batch it is in."""
        self.roi_head.mc_dropout = enabled
        self._mc_seed = seed if enabled else None
        self._mc_pass = 0

    def forward(self, batch: dict, return_hidden: bool = False):
        bev, rpn, pillar_map = self._first_stage(batch)
        if self.training:
            return self._training_losses(batch, bev, rpn, pillar_map)
        p = self.cfg.proposals
        rpn = _float(rpn)
        proposals = propose(rpn.cls_logits, partial(self.anchor_head.decode, rpn), p.test_pre_nms, p.test_post_nms,
                            p.test_nms_iou)
        seeds = None
        if self._mc_seed is not None:
            seeds = frame_seeds(self._mc_seed, f"mc {self._mc_pass}", _frame_ids(batch), bev.device)
            self._mc_pass += 1
        out = self.roi_head(bev, proposals.boxes, dropout_seeds=seeds, pillar_map=pillar_map,
                            point_grid=self._point_grid(batch, proposals.boxes))
        return self._predictions(proposals, out, return_hidden)

    def _first_stage(self, batch: dict):
        points = batch["points"]
        cfg = self.cfg
        _check_batch(batch, cfg, self.training)
        max_pillars = cfg.vfe.max_pillars_train if self.training else cfg.vfe.max_pillars_test
        pillars = pillarize(points, cfg, max_pillars)
        features, batch_size = self.vfe(pillars), int(batch["batch_size"])
        bev, canvas = self._backbone(features, pillars.coords, batch_size)
        # The RoI head's finer map (roi_head.pool_pillar_map): the dense canvas where the backbone built one (CUDA),
        # else the pillars themselves (PillarMap samples them without a canvas). Without it, the canvas goes after
        # the backbone (a Waymo canvas, 470 x 470 x 64 float32, is 57 MB per frame).
        pillar_map = None
        if cfg.roi_head.pool_pillar_map:
            pillar_map = canvas if canvas is not None else PillarMap(features, pillars.coords, batch_size,
                                                                     cfg.grid_size)
        return bev, self.anchor_head(bev), pillar_map

    def _backbone(self, features: Tensor, coords: Tensor, batch_size: int) -> tuple[Tensor, Tensor | None]:
        """The BEV map, and the dense canvas where it was built. On CPU the first convolution reads the pillars
        (``pillar_conv``: the training step 1.18x faster on the cpu preset, docs/results.md); on CUDA cuDNN's dense
        convolution of the canvas stays (it runs under autocast, and the pillar path is unmeasured against it).

        The convolutions run channels-last (the weights are plain, so the input decides): it suits tensor cores on
        CUDA, and on CPU it makes the forward pass faster and the backward pass of the widest layers slower. With
        the first layer read from the pillars the sum favours it: training step, 2 threads, batch 4, tiny 221-225 ->
        196-199 ms; cpu within noise (-5 % to +5 % in three pairs), whose backbone alone gains 44 ms forward and loses
        77 ms backward, about what the copy of the map into channels-last costs the plain layout. The map leaves in
        it: the RPN head's 1 x 1 convolution is then one GEMM without a transpose and the RoI grid samples it
        faster (cpu preset, training forward pass: RPN head 36 -> 15 ms, RoI head 50 -> 34 ms)."""
        if features.device.type == "cpu":
            return self.backbone.forward_pillars(features, coords, batch_size, self.cfg.grid_size,
                                                 torch.channels_last), None
        canvas = scatter_to_bev(features, coords, batch_size, self.cfg.grid_size)
        return self.backbone(canvas.contiguous(memory_format=torch.channels_last)), canvas

    def _point_grid(self, batch: dict, rois: Tensor) -> Tensor | None:
        """The RoIs' own points binned in their frames (``roi_head.point_grid``), when the head reads them; computed
        here, once, so that MC-dropout re-runs of the head reuse it."""
        h = self.cfg.roi_head
        if not h.point_grid or not (h.direction_check or h.point_grid_shared):
            return None
        return roi_point_grid(batch["points"], rois, h.point_grid, h.point_grid_margin)

    def _training_losses(self, batch: dict, bev: Tensor, rpn: RpnOutput, pillar_map: Tensor | PillarMap | None
                         ) -> tuple[Tensor, dict[str, Tensor]]:
        gt_boxes = batch["gt_boxes"].to(device=bev.device, dtype=torch.float32)
        step = int(self.train_step)  # the one host read of the step counter
        generator = self._training_generator(batch, step)
        p = self.cfg.proposals
        losses = self.anchor_head.loss(rpn, self.anchor_head.assign_targets(gt_boxes))
        detached = _float(rpn, detach=True)
        proposals = propose(detached.cls_logits, partial(self.anchor_head.decode, detached), p.train_pre_nms,
                            p.train_post_nms, p.train_nms_iou)
        targets = sample_roi_targets(proposals, gt_boxes, self.cfg.roi_head, generator)
        seeds = frame_seeds(self.seed, f"train {step}", _frame_ids(batch), bev.device)
        out = self.roi_head(bev, targets.rois, dropout_seeds=seeds, pillar_map=pillar_map,
                            point_grid=self._point_grid(batch, targets.rois))
        losses.update(self.roi_head.loss(out, targets))
        self.train_step += 1
        return sum(losses.values()), {k: v.detach() for k, v in losses.items()}

    def _training_generator(self, batch: dict, step: int) -> torch.Generator:
        ids = "|".join(str(i) for i in batch.get("frame_ids", []))
        text = f"{self.seed}|{step}|{ids}".encode()
        return torch.Generator().manual_seed(int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")
                                             >> 1)

    def _predictions(self, proposals: Proposals, out: RoiHeadOutput, return_hidden: bool) -> list[dict[str, Tensor]]:
        boxes = turn_round(refine_boxes(proposals.boxes, out.box_residuals), out.flip_logits)
        boxes = torch.cat((boxes[..., :6], limit_period(boxes[..., 6:7])), dim=-1)  # headings in [-pi, pi)
        scores = torch.sigmoid(out.cls_logits)
        results = []
        for i in range(boxes.shape[0]):
            valid = torch.nonzero(proposals.valid[i]).flatten()
            keep = valid[select_detections(boxes[i, valid], scores[i, valid], self.cfg.post_processing)]
            frame = {"boxes": boxes[i, keep], "scores": scores[i, keep], "labels": proposals.labels[i, keep],
                     "cls_probs": proposals.cls_probs[i, keep], "roi_features": out.features[i, keep],
                     "roi_indices": keep}
            if return_hidden:
                frame["rcnn_logits"] = out.cls_logits[i, keep]
                frame["rcnn_hidden"] = out.cls_hidden[i, keep]
            results.append(frame)
        return results


def _float(rpn: RpnOutput, detach: bool = False) -> RpnOutput:
    """The RPN outputs in float32 (autocast leaves them in bf16 / fp16), detached for the proposal layer."""
    parts = (rpn.cls_logits, rpn.box_residuals, rpn.dir_logits)
    return RpnOutput(*((t.detach() if detach else t).float() for t in parts))


def _frame_ids(batch: dict) -> list[str]:
    """The batch's frame ids (their positions where a hand-made batch has none)."""
    ids = batch.get("frame_ids")
    return [str(i) for i in ids] if ids else [str(i) for i in range(int(batch["batch_size"]))]


def _check_batch(batch: dict, cfg: ModelConfig, training: bool) -> None:
    """One-line errors for batches that do not fit the model, instead of a shape error deep inside a layer."""
    points = batch["points"]
    columns = 1 + cfg.num_point_features
    if points.ndim != 2 or points.shape[1] != columns:
        raise SsalError(f"expected points of shape (P, {columns}) [batch_index, x, y, z, {cfg.num_point_features - 3}"
                        f" more features] for model.num_point_features = {cfg.num_point_features}, got "
                        f"{tuple(points.shape)}", "batch.points")
    if training:
        gt = batch.get("gt_boxes")
        if gt is None or gt.ndim != 3 or gt.shape[0] != int(batch["batch_size"]) or gt.shape[2] != 8:
            shape = None if gt is None else tuple(gt.shape)
            raise SsalError(f"expected gt_boxes of shape (batch_size={batch['batch_size']}, M, 8) "
                            f"[x, y, z, dx, dy, dz, heading, class_id] in training, got {shape}", "batch.gt_boxes")
