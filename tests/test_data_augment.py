"""Copy-paste and world augmentation: objects come only from the labelled frames and land on the ground, boxes
never overlap, and every transform applies the transform it drew (a flip, an angle, a factor) to points and
boxes alike, so each point stays inside the box it belonged to."""

import math
import pickle

import numpy as np
import pytest
import torch

from ssal.data.augment import AugmentConfig, augment_scene, paste_objects, random_flip, random_rotation, random_scaling
from ssal.data.database import build_object_database
from ssal.data.ground import estimate_ground_plane, ground_height
from ssal.data.kitti import KittiDataset
from ssal.geometry import boxes_iou_bev, count_points_in_boxes_numpy

LABELLED = ["000000", "000003", "000007"]


@pytest.fixture(scope="module")
def dataset(kitti_sample):
    return KittiDataset(kitti_sample)


@pytest.fixture(scope="module")
def database(dataset):
    frames = [dataset.load_frame(dataset.read_info(i)) for i in LABELLED]
    return build_object_database(frames, ["Car", "Pedestrian", "Cyclist"])


def test_database_holds_only_the_labelled_frames_objects(database, dataset, openpcdet_infos):
    assert {s.frame_id for samples in database.objects.values() for s in samples} <= set(LABELLED)
    expected = sum(dataset.read_info(i).annos.count(["Car", "Pedestrian", "Cyclist"]) for i in LABELLED)
    assert len(database) == expected
    # frame 000000's pedestrian holds as many points as OpenPCDet's create_kitti_infos counted in its box
    infos = pickle.loads((openpcdet_infos / "kitti_infos_train.pkl").read_bytes())
    counted = next(f["annos"] for f in infos if f["point_cloud"]["lidar_idx"] == "000000")
    assert list(counted["name"]) == ["Pedestrian"]
    pedestrian = database.objects["Pedestrian"][0]
    assert pedestrian.frame_id == "000000" and pedestrian.num_points == counted["num_points_in_gt"][0]
    assert np.abs(pedestrian.points[:, :3]).max() < 1.0  # stored box-centred


def test_filter_by_points_and_difficulty(database):
    kept = database.filtered({"Car": 5, "Pedestrian": 5})
    assert "Cyclist" not in kept.objects
    for samples in kept.objects.values():
        assert all(s.num_points >= 5 and s.difficulty >= 0 for s in samples)


def test_paste_adds_non_overlapping_objects_on_the_ground(dataset, database):
    info = dataset.read_info("000009")
    points = dataset.load_points(info)
    boxes, names = info.annos.gt_boxes_lidar, info.annos.name
    ground = estimate_ground_plane(points)
    new_points, new_boxes, new_names = paste_objects(points, boxes, names, database,
                                                     {"Car": 15, "Pedestrian": 10}, np.random.default_rng(0), ground)
    added = new_boxes[len(boxes):]
    assert len(added) > 0 and set(new_names[len(boxes):]) <= {"Car", "Pedestrian"}
    iou = boxes_iou_bev(torch.from_numpy(new_boxes), torch.from_numpy(new_boxes)).fill_diagonal_(0)
    assert iou.max() == 0
    bottoms = added[:, 2] - added[:, 5] / 2
    np.testing.assert_allclose(bottoms, ground_height(ground, added[:, :2].astype(np.float64)), atol=1e-4)
    # Each pasted box holds exactly its banked points: the scene's own points inside it were removed.
    counts = count_points_in_boxes_numpy(new_points[:, :3], added)
    banked = {tuple(np.round(s.box[[0, 1, 3, 4, 5, 6]], 4)): s.num_points
              for samples in database.objects.values() for s in samples}
    for box, count in zip(added, counts):
        assert count == banked[tuple(np.round(box[[0, 1, 3, 4, 5, 6]], 4))]


SEEDS = range(12)


def _transformed(transform, dataset):
    """The real frame 000003 before and after ``transform`` under each of SEEDS; each point must stay in the box it
    belonged to."""
    info = dataset.read_info("000003")
    points = dataset.load_points(info)
    boxes = info.annos.gt_boxes_lidar
    before = count_points_in_boxes_numpy(points[:, :3], boxes)
    for seed in SEEDS:
        moved_points, moved_boxes = transform(points, boxes, np.random.default_rng(seed))
        after = count_points_in_boxes_numpy(moved_points[:, :3], moved_boxes)
        np.testing.assert_allclose(after, before, atol=2)  # float32 rounding may move a point on a face
        yield points, boxes, moved_points, moved_boxes


def _wrapped(angle):
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def test_flip_mirrors_points_and_boxes_across_an_axis_half_of_the_time(dataset):
    seen = set()
    for points, boxes, moved_points, moved_boxes in _transformed(
            lambda p, b, rng: random_flip(p, b, rng, True, True), dataset):
        sign_x, sign_y = np.sign(moved_boxes[0, 0] * boxes[0, 0]), np.sign(moved_boxes[0, 1] * boxes[0, 1])
        np.testing.assert_array_equal(moved_points[:, 0], sign_x * points[:, 0])
        np.testing.assert_array_equal(moved_points[:, 1], sign_y * points[:, 1])
        np.testing.assert_array_equal(moved_points[:, 2:], points[:, 2:])
        np.testing.assert_array_equal(moved_boxes[:, :2], boxes[:, :2] * [sign_x, sign_y])
        # a mirror turns a heading h into -h (across x), pi - h (across y), h + pi (both)
        heading = boxes[:, 6] * sign_x * sign_y + (np.pi if sign_x < 0 else 0.0)
        np.testing.assert_allclose(_wrapped(moved_boxes[:, 6] - heading), 0, atol=1e-5)
        seen.add((sign_x, sign_y))
    assert seen == {(1, 1), (1, -1), (-1, 1), (-1, -1)}  # each flip is drawn, not fixed


def test_rotation_turns_the_world_by_one_drawn_angle_within_the_limits(dataset):
    angles = []
    for points, boxes, moved_points, moved_boxes in _transformed(
            lambda p, b, rng: random_rotation(p, b, rng, (-math.pi / 4, math.pi / 4)), dataset):
        angle = float(_wrapped(moved_boxes[0, 6] - boxes[0, 6]))
        np.testing.assert_allclose(_wrapped(moved_boxes[:, 6] - boxes[:, 6]), angle, atol=1e-5)
        cos, sin = math.cos(angle), math.sin(angle)
        turned = points[:, :2].astype(np.float64) @ np.array([[cos, -sin], [sin, cos]]).T
        np.testing.assert_allclose(moved_points[:, :2], turned, atol=1e-3)
        np.testing.assert_array_equal(moved_points[:, 2:], points[:, 2:])
        angles.append(angle)
    assert max(np.abs(angles)) <= math.pi / 4
    assert np.std(angles) > 0.2 and len(set(np.round(angles, 6))) == len(angles)  # drawn, spread over the range


def test_scaling_scales_positions_and_sizes_by_one_drawn_factor(dataset):
    factors = []
    for points, boxes, moved_points, moved_boxes in _transformed(
            lambda p, b, rng: random_scaling(p, b, rng, (0.95, 1.05)), dataset):
        factor = float(moved_boxes[0, 3] / boxes[0, 3])
        np.testing.assert_allclose(moved_boxes[:, :6], boxes[:, :6] * factor, rtol=1e-5)
        np.testing.assert_allclose(moved_points[:, :3], points[:, :3] * factor, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(moved_points[:, 3], points[:, 3])
        np.testing.assert_array_equal(moved_boxes[:, 6], boxes[:, 6])
        factors.append(factor)
    assert 0.95 <= min(factors) and max(factors) <= 1.05 and max(factors) - min(factors) > 0.03


def test_same_generator_same_scene(dataset, database):
    info = dataset.read_info("000010")
    points = dataset.load_points(info)
    args = (points, info.annos.gt_boxes_lidar, info.annos.name)
    first = augment_scene(*args, np.random.default_rng(7), AugmentConfig(), database)
    second = augment_scene(*args, np.random.default_rng(7), AugmentConfig(), database)
    third = augment_scene(*args, np.random.default_rng(8), AugmentConfig(), database)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], third[1])


def test_estimated_ground_lies_under_the_labelled_objects(dataset):
    errors = []
    for frame_id in dataset.split_ids("train") + dataset.split_ids("val"):
        info = dataset.read_info(frame_id)
        boxes = info.annos.gt_boxes_lidar
        near = np.hypot(boxes[:, 0], boxes[:, 1]) < 40
        plane = estimate_ground_plane(dataset.load_points(info))
        bottoms = boxes[near, 2] - boxes[near, 5] / 2
        errors += list(ground_height(plane, boxes[near, :2].astype(np.float64)) - bottoms)
    assert len(errors) > 20
    assert np.median(np.abs(errors)) < 0.12 and np.percentile(np.abs(errors), 90) < 0.25
