"""Second stage of pillar_rcnn: rotated RoI-grid pooling, RoI sampling and targets, refinement, losses and the final
post-processing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ssal.geometry import rotate_points_z

from ssal.models import load_model_config
from ssal.models.config import PostProcessingConfig
from ssal.models.losses import corner_loss
from ssal.models.post_processing import select_detections
from ssal.models.proposal_layer import Proposals
from ssal.models.roi_head import RoiHead, faces_backwards, refine_boxes, roi_grid_points, turn_round
from ssal.models.roi_point_grid import roi_point_grid
from ssal.models.roi_target_sampler import RoiTargets, canonical_targets, sample_roi_targets

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "_models"
TINY = load_model_config(CONFIGS / "tiny.yaml")


def test_grid_points_follow_the_rotated_roi():
    roi = torch.tensor([[10.0, 5.0, -1.0, 4.0, 2.0, 1.5, math.pi / 6]])
    points = roi_grid_points(roi, grid_size=2, extra_width=0.0)  # local (+-1, +-0.5)
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    expected = [[10 + lx * c - ly * s, 5 + lx * s + ly * c] for lx in (-1, 1) for ly in (-0.5, 0.5)]
    torch.testing.assert_close(points[0], torch.tensor(expected))
    wider = roi_grid_points(roi, grid_size=2, extra_width=0.5)  # local (+-1.25, +-0.75)
    torch.testing.assert_close((wider[0, 3] - roi[0, :2]).norm(), torch.tensor(math.hypot(1.25, 0.75)))


def _coordinate_map(cfg):
    """A (1, 2, ny_f, nx_f) map whose channels are the x and y of each cell centre."""
    nx, ny = cfg.grid_size
    x0, y0, _, x1, y1, _ = cfg.point_cloud_range
    nx_f, ny_f = nx // cfg.feature_stride, ny // cfg.feature_stride
    xs = x0 + (torch.arange(nx_f) + 0.5) * (x1 - x0) / nx_f
    ys = y0 + (torch.arange(ny_f) + 0.5) * (y1 - y0) / ny_f
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy))[None]


def test_pooling_samples_the_map_at_the_rotated_grid_points():
    head = RoiHead(TINY, in_channels=2)
    rois = torch.tensor([[[12.3, -4.1, -1.0, 3.9, 1.6, 1.56, 0.7], [30.0, 8.0, -1.0, 0.8, 0.6, 1.7, -2.5]]])
    pooled = head.pool(_coordinate_map(TINY), rois)  # bilinear interpolation of a linear map is exact
    grid = roi_grid_points(rois, TINY.roi_head.grid_size, TINY.roi_head.pool_extra_width)
    assert pooled.shape == (1, 2, 25, 2)
    torch.testing.assert_close(pooled, grid, atol=1e-4, rtol=0)


def test_refining_with_canonical_targets_gives_back_the_gt():
    rois = torch.tensor([[10.0, 5.0, -1.0, 3.9, 1.6, 1.5, 2.8], [3.0, -2.0, -0.5, 0.8, 0.6, 1.7, -0.4]])
    gt = torch.tensor([[10.4, 4.7, -0.9, 4.2, 1.7, 1.6, 3.0], [3.1, -2.2, -0.4, 0.7, 0.7, 1.8, -0.4 + math.pi - 0.2]])
    refined = refine_boxes(rois, canonical_targets(rois, gt))
    torch.testing.assert_close(refined[0], gt[0], atol=1e-5, rtol=0)
    # The second GT points backwards from its RoI: refinement keeps the RoI's direction, the box is the same.
    torch.testing.assert_close(refined[1, :6], gt[1, :6], atol=1e-5, rtol=0)
    assert math.remainder(refined[1, 6].item() - gt[1, 6].item(), 2 * math.pi) == pytest.approx(-math.pi, abs=1e-5) \
        or math.remainder(refined[1, 6].item() - gt[1, 6].item(), 2 * math.pi) == pytest.approx(math.pi, abs=1e-5)


def _proposals(boxes, labels):
    boxes = torch.tensor(boxes)[None]
    n = boxes.shape[1]
    return Proposals(boxes, torch.ones(1, n), torch.tensor(labels)[None], torch.ones(1, n, 3),
                     torch.ones(1, n, dtype=torch.bool))


def _car(x, y, heading=0.0):
    return [x, y, -1.0, 3.9, 1.6, 1.56, heading]


def test_sampler_balances_foreground_and_background_and_sets_linear_score_targets():
    boxes = [_car(0, 0)] * 3 + [_car(0.6, 0)] * 3 + [_car(1.2, 0)] * 3 + [_car(40, 0)] * 20
    proposals = _proposals(boxes, [1] * len(boxes))
    gt = torch.tensor([[_car(0, 0) + [1.0]]])
    cfg = TINY.roi_head
    targets = sample_roi_targets(proposals, gt, cfg, torch.Generator().manual_seed(0))
    assert targets.rois.shape == (1, cfg.rois_per_frame, 7)
    ious = targets.ious[0]
    fg = ious >= cfg.reg_fg_threshold
    assert fg.sum() == 6  # all six foreground RoIs (IoU 1 and 0.73), fewer than fg_ratio * rois_per_frame
    hard = (ious >= cfg.cls_bg_threshold_lo) & ~fg
    # 80 % of the background would be hard, but only 3 hard RoIs (IoU 0.53) exist: easy ones fill the rest.
    assert hard.sum() == 3 and (ious < cfg.cls_bg_threshold_lo).sum() == cfg.rois_per_frame - 9
    expected = ((ious - 0.25) / 0.5).clamp(0, 1)
    torch.testing.assert_close(targets.cls_targets[0], expected)
    assert torch.equal(targets.reg_mask[0], ious > 0.55)
    assert targets.cls_targets[0].max() == 1.0


def test_sampler_respects_classes_and_frames_without_gt():
    proposals = _proposals([_car(0, 0), _car(20, 0)], [2, 1])  # a "pedestrian" RoI on the car
    gt = torch.tensor([[_car(0, 0) + [1.0]]])
    targets = sample_roi_targets(proposals, gt, TINY.roi_head, torch.Generator().manual_seed(0))
    assert targets.ious.max() == 0  # sample_by_class: the car GT does not count for a pedestrian RoI
    empty = sample_roi_targets(proposals, torch.zeros(1, 0, 8), TINY.roi_head, torch.Generator().manual_seed(0))
    assert empty.cls_targets.sum() == 0 and not empty.reg_mask.any()


def test_sampling_is_reproducible_from_the_generator():
    boxes = [_car(0.1 * i, 0) for i in range(40)]
    proposals = _proposals(boxes, [1] * 40)
    gt = torch.tensor([[_car(2, 0) + [1.0]]])
    a = sample_roi_targets(proposals, gt, TINY.roi_head, torch.Generator().manual_seed(5))
    b = sample_roi_targets(proposals, gt, TINY.roi_head, torch.Generator().manual_seed(5))
    c = sample_roi_targets(proposals, gt, TINY.roi_head, torch.Generator().manual_seed(6))
    assert torch.equal(a.rois, b.rois) and not torch.equal(a.rois, c.rois)


def test_corner_loss_is_zero_for_the_same_box_either_way_round():
    box = torch.tensor([_car(5, 5, 0.3)])
    flipped = box.clone()
    flipped[0, 6] += math.pi
    assert corner_loss(box, box).item() == 0 and corner_loss(flipped, box).item() < 1e-10
    shifted = box.clone()
    shifted[0, 0] += 0.5
    assert corner_loss(shifted, box).item() == pytest.approx(0.125)


def test_roi_losses_are_finite_without_foreground():
    head = RoiHead(TINY, in_channels=8).train()
    proposals = _proposals([_car(10, 0), _car(20, 5)], [1, 1])
    targets = sample_roi_targets(proposals, torch.zeros(1, 0, 8), TINY.roi_head, torch.Generator().manual_seed(0))
    out = head(torch.randn(1, 8, 64, 64), targets.rois)
    assert out.features.shape == (1, TINY.roi_head.rois_per_frame, 256)
    losses = head.loss(out, targets)
    assert losses["loss_rcnn_reg"] == 0 and losses["loss_rcnn_corner"] == 0 and torch.isfinite(
        losses["loss_rcnn_cls"])
    sum(losses.values()).backward()


def test_post_processing_thresholds_suppresses_caps_and_sorts():
    boxes = torch.tensor([_car(0, 0), _car(0.3, 0), _car(10, 0), _car(20, 0), _car(30, 0)])
    scores = torch.tensor([0.5, 0.9, 0.05, 0.7, 0.3])
    cfg = PostProcessingConfig(score_threshold=0.1, nms_iou=0.1, max_boxes=500)
    assert select_detections(boxes, scores, cfg).tolist() == [1, 3, 4]
    assert select_detections(boxes, scores, PostProcessingConfig(max_boxes=2)).tolist() == [1, 3]
    assert select_detections(boxes[:0], scores[:0], cfg).numel() == 0


def test_proposals_are_top_scoring_boxes_after_nms_padded_to_a_fixed_count():
    from ssal.models.proposal_layer import propose

    boxes = torch.tensor([[_car(0, 0), _car(0.2, 0), _car(10, 0), _car(20, 0)]])
    logits = torch.tensor([[[2.0, 0, 0], [3.0, 0, 0], [0, 1.0, 0], [0, 0, -1.0]]])
    decoded = []

    def decode(index):
        decoded.append(index.numel())
        return boxes.gather(1, index[..., None].expand(-1, -1, 7))

    out = propose(logits, decode, pre_nms=3, post_nms=5, nms_iou=0.7)
    assert decoded == [3]  # only the top 3 are decoded
    assert out.boxes.shape == (1, 5, 7) and out.cls_probs.shape == (1, 5, 3)
    assert out.valid[0].tolist() == [True, True, False, False, False]  # box 3 is not in the top 3, box 0 suppressed
    torch.testing.assert_close(out.boxes[0, :2], boxes[0, [1, 2]])
    assert out.labels[0, :2].tolist() == [1, 2] and out.scores[0, 0] == torch.sigmoid(torch.tensor(3.0))
    assert out.boxes[0, 2:].abs().sum() == 0


def test_sampling_grid_stays_float32_under_bfloat16_autocast():
    head = RoiHead(TINY, 2).eval()
    nx, ny = TINY.grid_size
    nx_f, ny_f = nx // TINY.feature_stride, ny // TINY.feature_stride
    # Cell indices (< 256) are exact in bfloat16, so any error comes from where the samples are taken.
    ramp = torch.stack(torch.meshgrid(torch.arange(ny_f), torch.arange(nx_f), indexing="ij")[::-1]).float()[None]
    rois = torch.tensor([[[37.31, -15.77, -1.0, 3.9, 1.6, 1.56, 0.4], [2.13, 17.29, -1.0, 0.8, 0.6, 1.7, -1.1]]])
    expected = head.pool(ramp, rois)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sampled = head.pool(ramp.to(torch.bfloat16), rois)
    assert sampled.dtype == torch.float32
    torch.testing.assert_close(sampled, expected, atol=1e-4, rtol=0)  # a bfloat16 grid: up to 0.12 cells off


def test_dropout_masks_drop_the_configured_share_per_frame_seed():
    head = RoiHead(TINY, 8).train()
    x = torch.ones(2 * 64, 256)
    seeds = torch.tensor([11, 12])
    out = head._dropout(x, 2, seeds, layer=0)
    dropped = (out == 0).float().view(2, 64, 256).mean(dim=(1, 2))
    assert torch.all((dropped - TINY.roi_head.dropout).abs() < 0.02)
    torch.testing.assert_close(out[out != 0], torch.full_like(out[out != 0], 1 / (1 - TINY.roi_head.dropout)))
    alone = head._dropout(x[64:], 1, seeds[1:], layer=0)
    assert torch.equal(alone, out[64:])  # frame 1's mask does not depend on frame 0
    assert not torch.equal(head._dropout(x, 2, seeds, layer=1), out)  # each layer draws its own


def test_a_box_facing_opposite_its_roi_is_detected_and_turned_round():
    rois = torch.tensor([[0.0, 0, 0, 4, 2, 1.5, 0.2], [0.0, 0, 0, 4, 2, 1.5, 3.0], [0.0, 0, 0, 4, 2, 1.5, -3.0]])
    gt = torch.tensor([[0.0, 0, 0, 4, 2, 1.5, 0.2 + math.pi - 0.1], [0.0, 0, 0, 4, 2, 1.5, -3.1],
                       [0.0, 0, 0, 4, 2, 1.5, 0.3]])
    assert faces_backwards(rois, gt).tolist() == [True, False, True]  # the second only crosses the +-pi seam
    turned = turn_round(rois, torch.tensor([2.0, -1.0, 0.5]))
    torch.testing.assert_close(turned[:, 6], torch.tensor([0.2 + math.pi, 3.0, -3.0 + math.pi]))
    assert torch.equal(turned[:, :6], rois[:, :6]) and torch.equal(turn_round(rois, None), rois)


def _scene_boxes(generator, count: int = 24):
    """``count`` car-sized GT boxes (1, count, 7) at random places and headings, and RoIs on them of which about
    half point backwards."""
    x0, y0, _, x1, y1, _ = TINY.point_cloud_range
    centres = torch.stack((torch.rand(count, generator=generator) * (x1 - x0 - 10) + x0 + 5,
                           torch.rand(count, generator=generator) * (y1 - y0 - 10) + y0 + 5), dim=1)
    heading = (torch.rand(count, generator=generator) * 2 - 1) * math.pi
    gt = torch.cat((centres, torch.full((count, 1), -1.0), torch.tensor([[3.9, 1.6, 1.56]]).expand(count, 3),
                    heading[:, None]), dim=1)
    rois = gt.clone()
    rois[:, 6] += math.pi * (torch.rand(count, generator=generator) < 0.5)
    return gt[None], rois[None]


def _targets(rois, gt, cls_targets=None):
    count = rois.shape[1]
    cls = torch.ones(1, count) if cls_targets is None else cls_targets
    return RoiTargets(rois, torch.ones(1, count, dtype=torch.long), gt, torch.ones(1, count), cls,
                      torch.ones(1, count, dtype=torch.bool), canonical_targets(rois, gt))


def _train(head, scene, loss_name: str, steps: int = 60):
    optimiser = torch.optim.Adam([p for p in head.parameters() if p.requires_grad], lr=3e-3)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        inputs, targets = scene(generator)
        optimiser.zero_grad()
        head.loss(head(*inputs[:2], **inputs[2]), targets)[loss_name].backward()
        optimiser.step()
    head.eval()
    inputs, targets = scene(torch.Generator().manual_seed(99))
    with torch.no_grad():
        return head(*inputs[:2], **inputs[2]), targets


def _pillar_cue_told(pool_pillar_map: bool) -> float:
    """Train the score on RoIs of which half sit on a blob that only the pillar map shows (the backbone map reads
    zeros); the share of held-out RoIs it tells apart."""
    overrides = ["model.roi_head.dropout=0.0", f"model.roi_head.pool_pillar_map={str(pool_pillar_map).lower()}"]
    cfg = load_model_config(CONFIGS / "tiny.yaml", overrides)
    torch.manual_seed(0)
    head = RoiHead(cfg, 1, pillar_channels=1).train()
    x0, y0, _, x1, y1, _ = cfg.point_cloud_range
    ys, xs = torch.meshgrid(torch.linspace(y0, y1, 256), torch.linspace(x0, x1, 256), indexing="ij")

    def scene(generator):
        gt, rois = _scene_boxes(generator)
        marked = torch.rand(24, generator=generator) < 0.5
        centres = gt[0, marked, :2]
        blobs = torch.exp(-((xs[None] - centres[:, 0, None, None]) ** 2 + (ys[None] - centres[:, 1, None, None]) ** 2))
        cue = blobs.amax(0, keepdim=True)[None] if len(centres) else torch.zeros(1, 1, 256, 256)
        return (torch.zeros_like(cue), rois, {"pillar_map": cue}), _targets(rois, gt, marked[None].float())

    out, targets = _train(head, scene, "loss_rcnn_cls")
    return float(((out.cls_logits > 0) == (targets.cls_targets > 0.5)).float().mean())


def _point_cue_facing_told(point_grid: bool) -> float:
    """Train the direction check on RoIs at every heading, half of them pointing backwards, over cars seen only as
    points: a body and a dense patch at the front (the maps read zeros); the share of held-out RoIs it turns the
    right way."""
    overrides = ["model.roi_head.direction_check=true", "model.roi_head.dropout=0.0"]
    if point_grid:
        overrides.append("model.roi_head.point_grid=[4,2,2]")
    cfg = load_model_config(CONFIGS / "tiny.yaml", overrides)
    torch.manual_seed(0)
    head = RoiHead(cfg, 1).train()

    def scene(generator):
        gt, rois = _scene_boxes(generator)
        body = (torch.rand(24, 30, 3, generator=generator) - 0.5) * torch.tensor([3.9, 1.6, 1.56])
        front = (torch.rand(24, 30, 3, generator=generator) - 0.5) * torch.tensor([0.4, 1.6, 0.8]) \
            + torch.tensor([1.7, 0.0, -0.3])
        local = torch.cat((body, front), dim=1)
        xy = rotate_points_z(local, gt[0, :, 6]) + gt[0, :, None, :3]
        points = torch.cat((torch.zeros(24 * 60, 1), xy.reshape(-1, 3), torch.ones(24 * 60, 1)), dim=1)
        maps = torch.zeros(1, 1, 64, 64)
        grid = roi_point_grid(points, rois, [4, 2, 2], cfg.roi_head.point_grid_margin) if point_grid else None
        return (maps, rois, {"point_grid": grid}), _targets(rois, gt)

    out, targets = _train(head, scene, "loss_rcnn_dir")
    turned = turn_round(targets.rois, out.flip_logits)
    return float((faces_backwards(turned, targets.gt_boxes) == 0).float().mean())


def test_the_direction_check_learns_facing_from_the_rois_own_points_at_any_heading():
    assert _point_cue_facing_told(point_grid=True) >= 0.9
    assert _point_cue_facing_told(point_grid=False) < 0.7  # maps that show nothing: a guess


def test_the_direction_check_does_not_train_the_features_the_boxes_come_from():
    cfg = load_model_config(CONFIGS / "tiny.yaml", ["model.roi_head.direction_check=true"])
    head = RoiHead(cfg, 2).train()
    generator = torch.Generator().manual_seed(3)
    gt, rois = _scene_boxes(generator)
    out = head(torch.rand(1, 2, 64, 64, generator=generator), rois)
    head.loss(out, _targets(rois, gt))["loss_rcnn_dir"].backward()
    checked = [name for name, p in head.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert checked and all(name.startswith(("dir_layers", "flip_out")) for name in checked)


def test_the_rois_read_a_cue_that_only_the_pillar_map_shows_when_they_pool_it():
    assert _pillar_cue_told(pool_pillar_map=True) >= 0.9
    assert _pillar_cue_told(pool_pillar_map=False) < 0.7  # the backbone map alone: a guess
