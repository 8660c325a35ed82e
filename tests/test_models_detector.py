"""pillar_rcnn end to end: what training and inference return, that it learns, MC-dropout, awkward inputs,
determinism, and the same results on CUDA."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ssal.active.pool_inference import InferenceRequest, PoolPredictor
from ssal.geometry import boxes_iou_bev
from ssal.models import badge_embedding, build_detector, load_model_config

TINY_YAML = Path(__file__).resolve().parents[1] / "configs" / "_models" / "tiny.yaml"
TINY = load_model_config(TINY_YAML)
SIZES = {1: (3.9, 1.6, 1.56), 2: (0.8, 0.6, 1.73), 3: (1.76, 0.6, 1.73)}  # Car, Pedestrian, Cyclist
GROUND_Z = -1.73
LOSS_KEYS = {"loss_rpn_cls", "loss_rpn_box", "loss_rpn_dir", "loss_rcnn_cls", "loss_rcnn_reg", "loss_rcnn_corner"}


def surface_points(box: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """(count, 3) points spread over the four sides and the top of ``box`` (7,), as a LiDAR would see it."""
    x, y, z, dx, dy, dz, heading = box.tolist()
    face = torch.multinomial(torch.tensor([dy * dz, dy * dz, dx * dz, dx * dz, dx * dy]), count, True,
                             generator=generator)
    u, v = (torch.rand(2, count, generator=generator) - 0.5)
    normal = torch.tensor([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]])[face] * 0.5
    local = torch.stack((torch.where(normal[:, 0] != 0, normal[:, 0], u),
                         torch.where(normal[:, 1] != 0, normal[:, 1], torch.where(normal[:, 0] != 0, u, v)),
                         torch.where(normal[:, 2] != 0, normal[:, 2], v)), dim=1) * torch.tensor([dx, dy, dz])
    c, s = math.cos(heading), math.sin(heading)
    return torch.stack((x + local[:, 0] * c - local[:, 1] * s, y + local[:, 0] * s + local[:, 1] * c,
                        z + local[:, 2]), dim=1)


def make_frame(objects, generator):
    """A hand-made scene: ``objects`` = [(class_id, x, y, heading)] standing on flat ground. Returns points
    (N, 4) ``x, y, z, intensity`` and boxes (M, 8) ``[box, class_id]``."""
    boxes, parts = [], []
    for class_id, x, y, heading in objects:
        dx, dy, dz = SIZES[class_id]
        box = torch.tensor([x, y, GROUND_Z + dz / 2, dx, dy, dz, heading])
        boxes.append(torch.cat((box, torch.tensor([float(class_id)]))))
        parts.append(surface_points(box, 200, generator))
    ground = torch.rand(3000, 2, generator=generator) * torch.tensor([40.96, 40.96]) + torch.tensor([0.0, -20.48])
    parts.append(torch.cat((ground, torch.full((3000, 1), GROUND_Z)), dim=1))
    xyz = torch.cat(parts)
    return torch.cat((xyz, torch.rand(len(xyz), 1, generator=generator)), dim=1), torch.stack(boxes)


def make_batch(frames):
    """The data loader's batch layout from [(points (N, 4), boxes (M, 8))]."""
    points = torch.cat([torch.cat((torch.full((len(p), 1), float(i)), p), dim=1) for i, (p, _) in enumerate(frames)])
    most = max(len(b) for _, b in frames)
    gt = torch.zeros(len(frames), most, 8)
    for i, (_, boxes) in enumerate(frames):
        gt[i, :len(boxes)] = boxes
    return {"points": points, "batch_size": len(frames), "gt_boxes": gt,
            "frame_ids": [f"{i:06d}" for i in range(len(frames))]}


SCENES = [
    [(1, 10, 3, 0.3), (1, 20, -6, 1.9), (1, 30, 8, -2.5), (2, 15, 0, 0.5), (3, 25, 2, 3.0)],
    [(1, 12, -10, -1.0), (1, 25, 5, 2.8), (2, 8, 5, 0.0), (2, 18, -3, 1.5), (3, 33, -8, -0.7)],
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A training step is thousands of small ops; on a shared 2-core machine a second intra-op thread that is
    descheduled stalls every one of them (seen: 0.16 s -> 4.5 s per step while another process ran). Results do
    not depend on the thread count; speed is measured in benchmarks/detector.py, not here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def scenes():
    generator = torch.Generator().manual_seed(0)
    return make_batch([make_frame(objects, generator) for objects in SCENES])


@pytest.fixture(scope="module")
def trained(scenes, one_thread):
    """A tiny pillar_rcnn overfitted to the two scenes, and its loss curve."""
    model = build_detector(TINY, seed=0).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _ in range(60):
        loss, _ = model(scenes)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        history.append(loss.item())
    return model.eval(), history


def test_training_returns_the_loss_and_its_six_terms(scenes):
    model = build_detector(TINY, seed=0).train()
    loss, logs = model(scenes)
    assert loss.ndim == 0 and loss.requires_grad and set(logs) == LOSS_KEYS
    assert all(v.ndim == 0 and torch.isfinite(v) for v in logs.values())
    torch.testing.assert_close(loss.detach(), sum(logs.values()))
    assert int(model.train_step) == 1 and "train_step" in model.state_dict()


@pytest.mark.parametrize("point_grid, shared", [("[]", False), ("[4,2,4]", False), ("[4,2,4]", True)])
def test_the_direction_check_adds_its_loss_and_keeps_headings_in_range(scenes, point_grid, shared):
    cfg = load_model_config(TINY_YAML, ["model.roi_head.direction_check=true",
                                        f"model.roi_head.point_grid={point_grid}",
                                        f"model.roi_head.point_grid_shared={str(shared).lower()}"])
    model = build_detector(cfg, seed=0).train()
    loss, logs = model(scenes)
    assert set(logs) == LOSS_KEYS | {"loss_rcnn_dir"} and torch.isfinite(logs["loss_rcnn_dir"])
    loss.backward()
    first = model.roi_head.shared[0][0].weight.grad  # the shared MLP's first layer; the grid's columns come last
    grid_columns = 2 * 4 * 2 * 4 + 1 if shared else 0
    assert (first[:, first.shape[1] - grid_columns:].abs().sum() > 0) == shared
    with torch.no_grad():
        model.roi_head.flip_out.bias.fill_(5.0)  # turn every box round
        predictions = model.eval()(scenes)
    headings = torch.cat([frame["boxes"][:, 6] for frame in predictions])
    assert len(headings) and bool(((headings >= -math.pi) & (headings < math.pi)).all())
    frames = PoolPredictor(model, InferenceRequest(mc_passes=2), seed=1)(scenes)  # the re-run gets the points too
    assert [frame["mc_boxes"].shape[:2] for frame in frames] == [(len(frame["boxes"]), 2) for frame in frames]


def test_rois_pooled_from_the_pillar_map_train_predict_and_rerun_for_mc_dropout(scenes):
    cfg = load_model_config(TINY_YAML, ["model.roi_head.pool_pillar_map=true", "model.roi_head.dropout=0.0"])
    model = build_detector(cfg, seed=0).train()
    loss, logs = model(scenes)
    assert set(logs) == LOSS_KEYS and torch.isfinite(loss)
    loss.backward()
    assert model.roi_head.reduce_pillars[0].weight.grad.abs().sum() > 0  # the pillar samples reach the loss
    frames = PoolPredictor(model.eval(), InferenceRequest(mc_passes=2), seed=1)(scenes)
    assert sum(len(frame["boxes"]) for frame in frames) > 0
    for frame in frames:  # without dropout every MC pass re-runs the head on the same maps: the same boxes
        for k in range(2):
            np.testing.assert_allclose(frame["mc_boxes"][:, k, :6], frame["boxes"][:, :6], atol=1e-4)


def test_loss_decreases_and_the_model_finds_every_object_again(trained, scenes):
    model, history = trained
    assert sum(history[-5:]) < 0.2 * sum(history[:5])
    with torch.no_grad():
        predictions = model(scenes)
    found = total = 0
    for frame, gt in zip(predictions, scenes["gt_boxes"]):
        iou = boxes_iou_bev(gt[:, :7], frame["boxes"])
        best, which = iou.max(dim=1)
        hit = best >= 0.7
        assert torch.equal(frame["labels"][which[hit]], gt[hit, 7].long())  # and with the right class
        found, total = found + int(hit.sum()), total + len(gt)
    assert found / total >= 0.9


def test_eval_returns_sorted_detections_with_features(trained, scenes):
    model, _ = trained
    with torch.no_grad():
        predictions = model(scenes, return_hidden=True)
    assert len(predictions) == 2
    for frame in predictions:
        k = frame["boxes"].shape[0]
        assert 0 < k <= TINY.post_processing.max_boxes and frame["boxes"].shape == (k, 7)
        assert frame["scores"].shape == (k,) and frame["labels"].shape == (k,)
        assert frame["cls_probs"].shape == (k, 3) and frame["roi_features"].shape == (k, 256)
        assert frame["roi_indices"].shape == (k,) and frame["rcnn_hidden"].shape == (k, 64)
        assert torch.all(frame["scores"][:-1] >= frame["scores"][1:]) and frame["scores"].min() >= 0.1
        assert torch.equal(frame["labels"], frame["cls_probs"].argmax(dim=1) + 1)
        assert frame["boxes"][:, 6].abs().max() <= math.pi
        torch.testing.assert_close(torch.sigmoid(frame["rcnn_logits"]), frame["scores"])
        embedding = badge_embedding(frame["rcnn_logits"], frame["rcnn_hidden"])
        assert embedding.shape == (k, 65)
        # Confident boxes have small gradients: the embedding's length is |score - label| * |[h, 1]|.
        scale = (frame["scores"] - (frame["scores"] >= 0.5).float()).abs()
        torch.testing.assert_close(embedding[:, -1].abs(), scale)


def test_mc_dropout_changes_outputs_only_when_on(trained, scenes):
    model, _ = trained
    with torch.no_grad():
        plain = [model(scenes)[0]["scores"] for _ in range(2)]
        model.enable_mc_dropout(True, seed=1)
        noisy = [model(scenes)[0]["roi_features"] for _ in range(2)]
        model.enable_mc_dropout(True, seed=1)
        repeat = model(scenes)[0]["roi_features"]
        model.enable_mc_dropout(False)
        after = model(scenes)[0]["scores"]
    assert torch.equal(plain[0], plain[1]) and torch.equal(plain[0], after)
    assert not torch.equal(noisy[0], noisy[1])
    assert torch.equal(noisy[0], repeat)  # same seed, same masks
    assert not model.training


def _subset(batch, order):
    """The frames ``order`` of a loader batch, as a batch of their own (frame ids travel with them)."""
    points = batch["points"]
    parts = [torch.cat((torch.full((int((points[:, 0] == i).sum()), 1), float(k)), points[points[:, 0] == i, 1:]), 1)
             for k, i in enumerate(order)]
    return {"points": torch.cat(parts), "batch_size": len(order), "gt_boxes": batch["gt_boxes"][order],
            "frame_ids": [batch["frame_ids"][i] for i in order]}


def test_a_frames_mc_dropout_value_does_not_depend_on_its_batch(trained, scenes):
    model, _ = trained
    values = []
    with torch.no_grad():
        for order in ([0, 1], [1, 0], [1]):
            model.enable_mc_dropout(True, seed=5)
            frame = model(_subset(scenes, order))[order.index(1)]
            values.append({int(i): f for i, f in zip(frame["roi_indices"], frame["roi_features"])})
        model.enable_mc_dropout(True, seed=5)
        model(scenes)
        second_pass = model(scenes)[1]
        model.enable_mc_dropout(False)
    assert values[0].keys() == values[1].keys() == values[2].keys()
    for other in values[1:]:
        for index, feature in values[0].items():
            torch.testing.assert_close(other[index], feature, atol=1e-4, rtol=1e-4)
    moved = {int(i): f for i, f in zip(second_pass["roi_indices"], second_pass["roi_features"])}
    assert any(not torch.allclose(moved[i], f) for i, f in values[0].items() if i in moved)  # each pass draws anew


def test_training_and_inference_see_the_same_points(scenes):
    model = build_detector(load_model_config(TINY_YAML, ["model.vfe.max_points_per_pillar=4"]), seed=0)
    seen = []
    model.vfe.register_forward_pre_hook(lambda module, args: seen.append(args[0].points))
    model.train()
    model(scenes)
    model.eval()
    with torch.no_grad():
        model(scenes)
    assert len(seen[0]) < len(scenes["points"])  # the cap is at work
    assert torch.equal(seen[0], seen[1])


POINT_GRID = ["model.roi_head.point_grid=[4,2,4]", "model.roi_head.point_grid_shared=true",
              "model.roi_head.direction_check=true"]


@pytest.mark.parametrize("overrides", [[], POINT_GRID], ids=["plain", "point-grid"])
def test_empty_frames_one_point_frames_and_frames_without_boxes(scenes, overrides):
    model = build_detector(load_model_config(TINY_YAML, overrides), seed=0)
    outside = torch.tensor([[0, -5.0, 0.0, 0.0, 0.1], [0, 10.0, 50.0, 0.0, 0.1]])  # frame 0: nothing in range
    single = torch.tensor([[1, 10.0, 1.0, -1.0, 0.3]])  # frame 1: one point
    cases = [torch.cat((outside, single)), torch.zeros(0, 5)]
    for points in cases:
        batch = {"points": points, "batch_size": 2, "gt_boxes": torch.zeros(2, 0, 8), "frame_ids": ["a", "b"]}
        model.train()
        loss, logs = model(batch)
        assert torch.isfinite(loss) and all(torch.isfinite(v) for v in logs.values())
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        model.eval()
        with torch.no_grad():
            predictions = model(batch)
        assert len(predictions) == 2 and all(torch.isfinite(f["boxes"]).all() for f in predictions)
    # Boxes in some frames only: the others count as all background.
    batch = dict(scenes, gt_boxes=torch.cat((scenes["gt_boxes"][:1], torch.zeros_like(scenes["gt_boxes"][:1]))))
    model.train()
    loss, _ = model(batch)
    assert torch.isfinite(loss)


def test_same_seed_same_model_same_training(scenes):
    state = torch.random.get_rng_state()
    runs = []
    for seed in (7, 7, 8):
        model = build_detector(TINY, seed=seed).train()
        optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
        losses = []
        for _ in range(2):
            loss, _ = model(scenes)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        runs.append((losses, model.state_dict()))
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG was not touched
    (losses_a, state_a), (losses_b, state_b), (losses_c, _) = runs
    assert losses_a == losses_b and losses_a != losses_c
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def test_a_restored_model_continues_with_the_same_random_draws(scenes):
    model = build_detector(TINY, seed=3).train()
    model(scenes)
    copy = build_detector(TINY, seed=3).train()
    copy.load_state_dict(model.state_dict())  # includes the step counter that seeds RoI sampling and dropout
    first, _ = model(scenes)
    second, _ = copy(scenes)
    assert first.item() == second.item()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_results(trained, scenes):
    model, _ = trained
    with torch.no_grad():
        cpu = model(scenes)
        gpu_model = build_detector(TINY, seed=0)
        gpu_model.load_state_dict(model.state_dict())
        gpu_model = gpu_model.cuda().eval()
        gpu_batch = dict(scenes, points=scenes["points"].cuda(), gt_boxes=scenes["gt_boxes"].cuda())
        gpu = gpu_model(gpu_batch)
    for a, b in zip(cpu, gpu):
        assert b["boxes"].is_cuda
        confident = a["scores"] > 0.5
        torch.testing.assert_close(b["boxes"][:int(confident.sum())].cpu(), a["boxes"][confident], atol=1e-3, rtol=0)
        torch.testing.assert_close(b["scores"][:int(confident.sum())].cpu(), a["scores"][confident], atol=1e-3, rtol=0)
    gpu_model.train()
    loss, _ = gpu_model(gpu_batch)
    loss.backward()
    assert torch.isfinite(loss)
    with torch.autocast("cuda", dtype=torch.bfloat16):  # what the engine's AMP does on CUDA
        loss, logs = gpu_model(gpu_batch)
    loss.backward()
    assert all(torch.isfinite(v) for v in logs.values())


def test_batches_that_do_not_fit_the_model_are_one_line_errors(scenes):
    from ssal.errors import SsalError

    model = build_detector(TINY, seed=0).train()
    with pytest.raises(SsalError, match=r"batch\.points: expected points of shape \(P, 5\)"):
        model(dict(scenes, points=scenes["points"][:, :4]))
    with pytest.raises(SsalError, match=r"batch\.gt_boxes: expected gt_boxes of shape \(batch_size=2, M, 8\)"):
        model(dict(scenes, gt_boxes=scenes["gt_boxes"][..., :7]))
