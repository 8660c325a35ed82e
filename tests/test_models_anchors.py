"""The RPN's pieces: anchors, the residual box coder, direction bins, per-class target assignment and the losses."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ssal.models import load_model_config
from ssal.models.anchor_head import AnchorHead, RpnOutput, direction_bins
from ssal.models.anchors import generate_anchors
from ssal.models.box_coder import add_sin_difference, decode_boxes, encode_boxes
from ssal.models.losses import sigmoid_focal_loss
from ssal.models.target_assigner import TargetAssigner

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "_models"
TINY = load_model_config(CONFIGS / "tiny.yaml")
CAR, PED, CYC = 1, 2, 3


def test_anchors_sit_on_cell_centres_with_class_sizes_and_bottom_heights():
    anchors, classes = generate_anchors(TINY, (64, 64))
    assert anchors.shape == (64 * 64 * 6, 7)
    grid = anchors.view(64, 64, 6, 7)  # (y, x, anchor)
    torch.testing.assert_close(grid[0, 0, 0, :2], torch.tensor([0.32, -20.16]))
    torch.testing.assert_close(grid[2, 5, 0, :2], torch.tensor([5.5 * 0.64, -20.48 + 2.5 * 0.64]))
    car, car_90, ped = grid[0, 0, 0], grid[0, 0, 1], grid[0, 0, 2]
    torch.testing.assert_close(car[2:], torch.tensor([-1.78 + 0.78, 3.9, 1.6, 1.56, 0.0]))
    assert car_90[6] == pytest.approx(1.57)
    torch.testing.assert_close(ped[2:6], torch.tensor([-0.6 + 0.865, 0.8, 0.6, 1.73]))
    assert classes[:6].tolist() == [CAR, CAR, PED, PED, CYC, CYC]


def _random_boxes(n: int, generator: torch.Generator) -> torch.Tensor:
    r = torch.rand(n, 7, generator=generator, dtype=torch.float64)
    return torch.cat((r[:, :3] * 40 - 20, r[:, 3:6] * 4 + 0.3, r[:, 6:] * 2 * math.pi - math.pi), dim=1)


def test_encode_then_decode_is_identity_including_headings_near_pi():
    g = torch.Generator().manual_seed(0)
    boxes, anchors = _random_boxes(500, g), _random_boxes(500, g)
    boxes[:4, 6] = torch.tensor([math.pi - 1e-6, -math.pi + 1e-6, math.pi, -math.pi], dtype=torch.float64)
    anchors[:4, 6] = torch.tensor([-math.pi + 1e-6, math.pi - 1e-6, -math.pi, 1.57], dtype=torch.float64)
    torch.testing.assert_close(decode_boxes(encode_boxes(boxes, anchors), anchors), boxes)
    assert encode_boxes(anchors, anchors).abs().max() < 1e-12


def test_sin_difference_ignores_a_half_turn_and_the_wrap_at_pi():
    pred = torch.zeros(3, 7)
    target = torch.zeros(3, 7)
    pred[:, 6] = torch.tensor([0.3, math.pi - 0.01, 1.0])
    target[:, 6] = torch.tensor([0.3 + math.pi, -math.pi + 0.01, 1.2])
    p, t = add_sin_difference(pred, target)
    torch.testing.assert_close(p[:, 6] - t[:, 6], torch.sin(pred[:, 6] - target[:, 6]))
    assert (p[:2, 6] - t[:2, 6]).abs().max() < 0.03


def test_direction_bins_and_decoding_restore_the_full_heading():
    head = AnchorHead(TINY, in_channels=8)
    n = head.anchors.shape[0]
    truth = torch.tensor([-3.1, -1.5, 0.1, 1.6, 3.1])
    residuals = torch.zeros(1, n, 7)
    residuals[0, :5, 6] = truth + math.pi - head.anchors[:5, 6]  # regression right up to a half turn
    bins = direction_bins(truth, TINY.anchor_head.dir_offset, 2)
    assert bins.tolist() == [0, 1, 1, 0, 0]  # bin 0 holds headings in [pi/4, 5pi/4)
    logits = torch.zeros(1, n, 2)
    logits[0, :5] = torch.nn.functional.one_hot(bins, 2).float() * 5
    boxes = head.decode(RpnOutput(torch.zeros(1, n, 3), residuals, logits))
    wrapped = torch.remainder(boxes[0, :5, 6] - truth + math.pi, 2 * math.pi) - math.pi
    assert wrapped.abs().max() < 1e-5


def _car(x, y, heading=0.0):
    return [x, y, -1.0, 3.9, 1.6, 1.56, heading]


def test_assignment_thresholds_are_per_class_and_every_gt_claims_its_best_anchor():
    anchors = torch.tensor([
        _car(0, 0),                        # 0 identical to the car GT: positive
        _car(1, 0),                        # 1 IoU 0.59 (between 0.45 and 0.6): ignored
        _car(3, 0),                        # 2 IoU 0.13: negative
        [0, 0, -0.1, 0.8, 0.6, 1.73, 0],   # 3 a pedestrian anchor on the car: other class, negative
        [20, 0, -0.1, 0.8, 0.6, 1.73, 0],  # 4 the pedestrian anchor nearest the lone pedestrian: forced positive
        [30, 0, -0.1, 0.8, 0.6, 1.73, 0],  # 5 far from everything: negative
        _car(10, 10, 1.57),                # 6 the rotated car, turned 90 degrees as well: positive
        _car(10, 10, 0.0),                 # 7 same place, other orientation: IoU 0.26, negative
    ])
    classes = torch.tensor([CAR, CAR, CAR, PED, PED, PED, CAR, CAR])
    gt = torch.tensor([[_car(0, 0) + [CAR], [20.5, 0.2, -0.1, 0.8, 0.6, 1.73, 0, PED],
                        _car(10, 10, -1.6) + [CAR], [0.0] * 8]])  # last row: padding
    targets = TargetAssigner(TINY, anchors, classes).assign(gt)
    assert targets.labels[0].tolist() == [CAR, -1, 0, 0, PED, 0, CAR, 0]
    positive = targets.labels[0] > 0
    decoded = decode_boxes(targets.box_targets[0, positive], anchors[positive])
    torch.testing.assert_close(decoded, gt[0, [0, 1, 2], :7])


def test_rotated_matching_agrees_on_a_clear_case():
    cfg = load_model_config(CONFIGS / "tiny.yaml", ["model.anchor_head.matching_iou=rotated"])
    anchors = torch.tensor([_car(0, 0, 0.3), _car(0, 0, 1.87), _car(5, 0, 0.3)])
    gt = torch.tensor([[_car(0, 0, 0.3) + [CAR]]])
    labels = TargetAssigner(cfg, anchors, torch.tensor([CAR, CAR, CAR])).assign(gt).labels
    assert labels[0].tolist() == [CAR, 0, 0]


def test_frames_without_boxes_give_all_negative_anchors():
    anchors = torch.tensor([_car(0, 0), _car(5, 5)])
    targets = TargetAssigner(TINY, anchors, torch.tensor([CAR, CAR])).assign(torch.zeros(2, 0, 8))
    assert targets.labels.tolist() == [[0, 0], [0, 0]]
    assert targets.box_targets.abs().sum() == 0


def test_focal_loss_down_weights_easy_examples():
    logits = torch.tensor([[0.0], [4.0], [-4.0]])
    targets = torch.tensor([[1.0], [1.0], [0.0]])
    loss = sigmoid_focal_loss(logits, targets, torch.ones(3), alpha=0.25, gamma=2.0)
    assert loss[0, 0].item() == pytest.approx(0.25 * 0.25 * math.log(2), rel=1e-5)
    assert loss[1, 0] < 1e-4 and loss[2, 0] < 1e-3


def test_rpn_loss_is_finite_without_boxes_and_learns_from_boxes():
    head = AnchorHead(TINY, in_channels=8)
    features = torch.randn(2, 8, 64, 64, requires_grad=True)
    out = head(features)
    assert out.cls_logits.shape == (2, 64 * 64 * 6, 3) and out.dir_logits.shape == (2, 64 * 64 * 6, 2)
    empty = head.loss(out, head.assign_targets(torch.zeros(2, 0, 8)))
    assert all(torch.isfinite(v) for v in empty.values())
    assert empty["loss_rpn_box"] == 0 and empty["loss_rpn_dir"] == 0
    gt = torch.tensor([[_car(10, 3, 0.4) + [CAR]], [[15, -4, -0.1, 0.8, 0.6, 1.73, 2.0, PED]]])
    losses = head.loss(out, head.assign_targets(gt))
    assert losses["loss_rpn_box"] > 0 and losses["loss_rpn_dir"] > 0
    sum(losses.values()).backward()
    assert features.grad.abs().sum() > 0


def test_decoding_chosen_anchors_matches_decoding_all():
    head = AnchorHead(TINY, in_channels=8)
    out = head(torch.randn(2, 8, 64, 64))
    index = torch.tensor([[0, 5, 100], [7, 3, 2000]])
    chosen = head.decode(out, index)
    torch.testing.assert_close(chosen, head.decode(out).gather(1, index[..., None].expand(-1, -1, 7)))


def test_box_and_direction_losses_read_positive_anchors_only():
    head = AnchorHead(TINY, in_channels=8)
    out = head(torch.randn(1, 8, 64, 64))
    gt = torch.tensor([[_car(10, 3, 0.4) + [CAR]]])
    targets = head.assign_targets(gt)
    assigner = head._assigner
    head.assign_targets(gt)
    assert head._assigner is assigner  # built once, not every step
    losses = head.loss(out, targets)
    positive = (targets.labels > 0)[..., None]
    noisy = RpnOutput(out.cls_logits, torch.where(positive, out.box_residuals, torch.randn_like(out.box_residuals)),
                      torch.where(positive, out.dir_logits, torch.randn_like(out.dir_logits)))
    again = head.loss(noisy, targets)
    assert losses["loss_rpn_box"] > 0 and losses["loss_rpn_dir"] > 0
    torch.testing.assert_close(again["loss_rpn_box"], losses["loss_rpn_box"])
    torch.testing.assert_close(again["loss_rpn_dir"], losses["loss_rpn_dir"])


def _all_pairs_targets(cfg, anchors: torch.Tensor, classes: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """The assignment rule written out over every anchor x GT pair (as OpenPCDet computes it): labels (N,)."""
    from ssal.geometry import boxes_iou_bev
    from ssal.models.target_assigner import _nearest_axis_rectangles

    labels = torch.zeros(len(anchors), dtype=torch.long)
    for entry in cfg.anchor_head.anchors:
        class_id = cfg.class_names.index(entry.class_name) + 1
        mine, own = classes == class_id, gt[gt[:, 7] == class_id, :7]
        if len(own) == 0:
            continue
        if cfg.anchor_head.matching_iou == "rotated":
            iou = boxes_iou_bev(anchors[mine], own)
        else:
            a, b = _nearest_axis_rectangles(anchors[mine]), _nearest_axis_rectangles(own)
            wh = (torch.minimum(a[:, None, 2:], b[None, :, 2:]) - torch.maximum(a[:, None, :2], b[None, :, :2]))
            inter = wh.clamp_min(0).prod(dim=-1)
            area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
            iou = inter / (area(a)[:, None] + area(b)[None] - inter).clamp_min(1e-8)
        best = iou.max(dim=1).values
        gt_best = iou.max(dim=0).values
        forced = ((iou == gt_best[None]) & (gt_best[None] > 0)).any(dim=1)
        positive = (best >= entry.matched_threshold) | forced
        class_labels = torch.where(positive, class_id, 0)
        class_labels[(best >= entry.unmatched_threshold) & ~positive] = -1
        labels[mine] = class_labels
    return labels


def _crowded_boxes(g: torch.Generator, n: int) -> torch.Tensor:
    kind = torch.randint(1, 4, (n,), generator=g)
    size = torch.tensor([[3.9, 1.6, 1.56], [0.8, 0.6, 1.73], [1.76, 0.6, 1.73]])[kind - 1]
    xy = torch.rand(n, 2, generator=g) * 40 - torch.tensor([0.0, 20.0])
    return torch.cat((xy, torch.zeros(n, 1), size * (0.7 + 0.6 * torch.rand(n, 3, generator=g)),
                      torch.rand(n, 1, generator=g) * 6.3 - 3.15, kind[:, None].float()), dim=1)


@pytest.mark.parametrize("matching", ["axis_aligned", "rotated"])
def test_each_frame_of_a_batch_is_assigned_as_if_alone(matching):
    cfg = load_model_config(CONFIGS / "tiny.yaml", [f"model.anchor_head.matching_iou={matching}"])
    anchors, classes = generate_anchors(cfg, (64, 64))
    g = torch.Generator().manual_seed(5)
    first, second = _crowded_boxes(g, 30), _crowded_boxes(g, 24)
    second[5] = first[0]  # the same box in two frames: each frame's anchors are its own
    second[[3, 9, 17], 7] = 0  # padding rows between real boxes
    batch = torch.zeros(3, 30, 8)  # the third frame is all padding
    batch[0], batch[1, :24] = first, second
    assigner = TargetAssigner(cfg, anchors, classes)

    together = assigner.assign(batch)

    for f in range(3):
        alone = assigner.assign(batch[f:f + 1])
        assert torch.equal(together.labels[f], alone.labels[0])
        assert torch.equal(together.matched_boxes[f], alone.matched_boxes[0])
        assert torch.equal(together.box_targets[f], alone.box_targets[0])
        assert torch.equal(together.labels[f], _all_pairs_targets(cfg, anchors, classes, batch[f]))
    assert (together.labels[0] > 0).any() and (together.labels[1] > 0).any() and (together.labels[2] == 0).all()


@pytest.mark.parametrize("matching", ["axis_aligned", "rotated"])
def test_assignment_equals_the_all_pairs_rule_on_crowded_frames(matching):
    cfg = load_model_config(CONFIGS / "tiny.yaml", [f"model.anchor_head.matching_iou={matching}"])
    anchors, classes = generate_anchors(cfg, (64, 64))
    g = torch.Generator().manual_seed(4)
    n = 40
    kind = torch.randint(1, 4, (n,), generator=g)
    size = torch.tensor([[3.9, 1.6, 1.56], [0.8, 0.6, 1.73], [1.76, 0.6, 1.73]])[kind - 1]
    xy = torch.rand(n, 2, generator=g) * 40 - torch.tensor([0.0, 20.0])
    boxes = torch.cat((xy, torch.zeros(n, 1), size * (0.7 + 0.6 * torch.rand(n, 3, generator=g)),
                       torch.rand(n, 1, generator=g) * 6.3 - 3.15, kind[:, None].float()), dim=1)
    boxes[1] = boxes[0]  # two identical boxes: their anchors tie
    boxes[2, :2] = anchors[0, :2]  # a box on the map's first cell
    boxes[3, :2] = torch.tensor([-30.0, 50.0])  # one outside the map: no anchor reaches it
    targets = TargetAssigner(cfg, anchors, classes).assign(boxes[None])
    expected = _all_pairs_targets(cfg, anchors, classes, boxes)
    assert torch.equal(targets.labels[0], expected)
    assert set(expected.unique().tolist()) == {-1, 0, CAR, PED, CYC}
    positive = targets.labels[0] > 0
    torch.testing.assert_close(decode_boxes(targets.box_targets[0, positive], anchors[positive]),
                               targets.matched_boxes[0, positive], rtol=1e-4, atol=1e-4)
