"""Points in boxes: agreement with a brute-force loop, boundaries, and OpenPCDet's counts on real KITTI frames."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch

from ssal.data.kitti_calib import Calibration
from ssal.errors import SsalError
from ssal.geometry import (
    count_points_in_boxes,
    count_points_in_boxes_numpy,
    points_in_boxes,
    points_in_boxes_index,
    points_in_boxes_numpy,
)
from ssal.geometry.points_in_boxes import inside_pairs


def brute_force(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, M) membership, one box at a time, in float64."""
    out = np.zeros((len(points), len(boxes)), dtype=bool)
    for j, (x, y, z, dx, dy, dz, heading) in enumerate(boxes[:, :7]):
        offset = points[:, :3] - (x, y, z)
        along = offset[:, 0] * math.cos(heading) + offset[:, 1] * math.sin(heading)
        across = -offset[:, 0] * math.sin(heading) + offset[:, 1] * math.cos(heading)
        out[:, j] = (np.abs(along) <= dx / 2) & (np.abs(across) <= dy / 2) & (np.abs(offset[:, 2]) <= dz / 2)
    return out


def random_scene(rng: np.random.Generator, num_points: int, num_boxes: int) -> tuple[np.ndarray, np.ndarray]:
    points = np.concatenate([rng.uniform(-20, 20, (num_points, 2)), rng.uniform(-3, 1, (num_points, 1)),
                             rng.random((num_points, 1))], axis=1)
    boxes = np.concatenate([rng.uniform(-18, 18, (num_boxes, 2)), rng.uniform(-2, 0, (num_boxes, 1)),
                            rng.uniform(0.5, 6, (num_boxes, 3)), rng.uniform(-math.pi, math.pi, (num_boxes, 1))],
                           axis=1)
    return points, boxes


def test_membership_matches_a_brute_force_loop():
    points, boxes = random_scene(np.random.default_rng(0), 20_000, 40)
    expected = brute_force(points, boxes)

    inside = points_in_boxes(torch.from_numpy(points), torch.from_numpy(boxes))

    assert inside.dtype == torch.bool and inside.shape == (20_000, 40)
    assert expected.sum() > 1000  # boxes do hold points, and some points sit in two boxes
    np.testing.assert_array_equal(inside.numpy(), expected)
    np.testing.assert_array_equal(points_in_boxes_numpy(points, boxes), expected)
    np.testing.assert_array_equal(count_points_in_boxes_numpy(points, boxes), expected.sum(axis=0))


def test_index_is_the_first_containing_box_or_minus_one():
    points, boxes = random_scene(np.random.default_rng(1), 20_000, 40)
    expected = brute_force(points, boxes)
    first = np.where(expected.any(axis=1), expected.argmax(axis=1), -1)
    assert (expected.sum(axis=1) > 1).any()  # overlapping boxes exist, so "first" matters

    index = points_in_boxes_index(torch.from_numpy(points), torch.from_numpy(boxes))

    assert index.dtype == torch.long
    np.testing.assert_array_equal(index.numpy(), first)


def test_points_on_faces_edges_and_corners_count_and_points_just_outside_do_not():
    box = torch.tensor([[1.0, 2.0, 0.5, 4.0, 2.0, 1.0, math.pi / 2]], dtype=torch.float64)  # 4 m long along +y
    on = torch.tensor([[1.0, 4.0, 0.5], [2.0, 2.0, 0.5], [1.0, 2.0, 1.0], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0],
                       [2.0, 4.0, 0.0]], dtype=torch.float64)
    out = torch.tensor([[1.0, 4.001, 0.5], [2.001, 2.0, 0.5], [1.0, 2.0, 1.001]], dtype=torch.float64)
    assert points_in_boxes(on, box).all()
    assert not points_in_boxes(out, box).any()
    assert count_points_in_boxes(torch.cat([on, out]), box).tolist() == [6]
    axis_aligned = torch.tensor([[0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0]])  # float32: faces at exactly +-1
    assert points_in_boxes(torch.tensor([[1.0, -1.0, 1.0], [1.0, 0.0, 0.0]]), axis_aligned).all()


def test_chunking_and_dtype_do_not_change_the_answer():
    points, boxes = random_scene(np.random.default_rng(2), 5_000, 30)
    reference = brute_force(points, boxes)
    tp, tb = torch.from_numpy(points), torch.from_numpy(boxes)
    pairs = {(int(p), int(b)) for ip, ib in inside_pairs(tp, tb, max_pairs=97) for p, b in zip(ip, ib)}
    assert pairs == {(int(p), int(b)) for p, b in zip(*np.nonzero(reference))}
    np.testing.assert_array_equal(points_in_boxes(tp.float(), tb.float()).numpy(), reference)


def test_empty_inputs():
    assert points_in_boxes(torch.zeros(0, 3), torch.zeros(4, 7)).shape == (0, 4)
    assert points_in_boxes_index(torch.zeros(5, 4), torch.zeros(0, 7)).tolist() == [-1] * 5
    assert count_points_in_boxes(torch.zeros(0, 3), torch.zeros(2, 7)).tolist() == [0, 0]


def test_wrong_shapes_raise_one_line_errors():
    with pytest.raises(SsalError, match=r"points: expected shape \(N, 3\)"):
        points_in_boxes(torch.zeros(10, 2), torch.zeros(1, 7))
    with pytest.raises(SsalError, match=r"boxes: expected shape \(N, 7\)"):
        points_in_boxes_index(torch.zeros(10, 3), torch.zeros(7))


@pytest.mark.parametrize("frame", range(6))
def test_fov_point_counts_equal_openpcdet_num_points_in_gt(kitti_sample, openpcdet_infos, frame):
    with open(openpcdet_infos / "kitti_infos_train.pkl", "rb") as file:
        info = {i["point_cloud"]["lidar_idx"]: i for i in pickle.load(file)}[f"{frame:06d}"]
    points = np.fromfile(kitti_sample / "training" / "velodyne" / f"{frame:06d}.bin", np.float32).reshape(-1, 4)
    calib = Calibration.from_matrices(info["calib"]["P2"], info["calib"]["R0_rect"], info["calib"]["Tr_velo_to_cam"])
    points = points[calib.fov_mask(points, info["image"]["image_shape"])]
    boxes = info["annos"]["gt_boxes_lidar"]
    expected = info["annos"]["num_points_in_gt"][: len(boxes)]  # DontCare rows (-1) come last, without boxes

    counts = count_points_in_boxes_numpy(points, boxes)

    np.testing.assert_array_equal(counts, expected)
    if frame == 0:
        assert list(info["annos"]["name"]) == ["Pedestrian"] and counts.tolist() == [377]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_cpu_results():
    points, boxes = random_scene(np.random.default_rng(3), 120_000, 100)
    tp, tb = torch.from_numpy(points).float(), torch.from_numpy(boxes).float()
    assert torch.equal(points_in_boxes(tp.cuda(), tb.cuda()).cpu(), points_in_boxes(tp, tb))
    assert torch.equal(points_in_boxes_index(tp.cuda(), tb.cuda()).cpu(), points_in_boxes_index(tp, tb))
    assert torch.equal(count_points_in_boxes(tp.cuda(), tb.cuda()).cpu(), count_points_in_boxes(tp, tb))
