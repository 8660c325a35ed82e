"""Pseudo-scenes: collision rules, BACK objects without labels, objects on the background's ground, no background
point left inside a placed box, redraws instead of crashes, and a training set that changes every epoch."""

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.ssl_fakes import CLASSES, box, cluster, ground
from ssal.config import load_config
from ssal.data.augment import AugmentConfig
from ssal.data.ground import ground_height
from ssal.data.loader import DetectionDataset
from ssal.geometry import boxes_iou_bev, points_in_boxes
from ssal.ssl.database import CpspDatabase, PartWriter
from ssal.ssl.mixed_dataset import MixedDataset
from ssal.ssl.pseudo_scene import compose_pseudo_scene, select_candidates

TINY = Path(__file__).resolve().parents[1] / "configs" / "synthetic" / "tiny.yaml"
SLOPE = np.array([0.05, 0.0, 1.0, 1.2]) / np.linalg.norm([0.05, 0.0, 1.0])  # z = -1.2 - 0.05 x


def stage(**changes):
    config = load_config(TINY, [f"cpsp.{k}={v}" for k, v in changes.items()])
    return config.cpsp.stage(CLASSES, final=False)


def marked(points: np.ndarray) -> np.ndarray:
    points[:, 3] = 5.0  # background points are told apart from object points by their intensity
    return points


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """A database of many overlapping objects: 60 cars, 30 pedestrians, 20 cyclists, 30 BACK objects."""
    root = tmp_path_factory.mktemp("db")
    rng = np.random.default_rng(1)
    labelled = PartWriter(root / "labelled", 4)
    labelled.add_background("flat", marked(ground(rng)), None)
    labelled.add_background("sloped", marked(ground(rng)), SLOPE)
    labelled.close({})
    pool = PartWriter(root / "pool_0", 4)
    for cls, count in (("Car", 60), ("Pedestrian", 30), ("Cyclist", 20)):
        for _ in range(count):
            b = box(rng.uniform(5, 35), rng.uniform(-15, 15), cls, heading=rng.uniform(-3, 3), lift=rng.uniform(0, 2))
            pool.add_object(cls, "pseudo", b, cluster(b, rng) - np.r_[b[:3], 0], 0.9, "u")
    for _ in range(30):
        b = box(rng.uniform(5, 35), rng.uniform(-15, 15), "Pedestrian")
        pool.add_object("BACK_Car", "back", b, cluster(b, rng, 10) - np.r_[b[:3], 0], 0.15, "u")
    pool.close({})
    return root


def test_candidates_collide_with_placed_boxes_at_any_overlap_and_with_each_other_from_0_3():
    placed = np.stack([box(0, 0)])
    candidates = np.stack([box(3.5, 0), box(20, 0), box(20.5, 0), box(30, 0), box(33.6, 0)])
    # touches placed | 20 and 20.5 overlap by IoU 0.77 | 30 and 33.6 overlap a little (IoU < 0.3): both kept
    assert select_candidates(candidates, placed, 0.3).tolist() == [False, False, False, True, True]


def test_placed_boxes_obey_the_collision_rules_and_back_objects_carry_no_label(crowded):
    settings = stage()
    database = CpspDatabase.open(crowded, 0, settings.min_points)
    for index in range(10):
        scene = compose_pseudo_scene(database, settings, np.random.default_rng(index))
        assert len(scene.boxes) > 0 and len(scene.back_boxes) > 0
        assert not any(name.startswith("BACK") for name in scene.names)
        every = torch.from_numpy(np.concatenate((scene.boxes, scene.back_boxes)))
        iou = boxes_iou_bev(every, every).fill_diagonal_(0)
        assert (iou < 0.3).all()
        counts = {c: int((scene.names == c).sum()) for c in CLASSES}
        assert counts["Car"] <= 8 and counts["Pedestrian"] <= 6 and len(scene.back_boxes) <= 2
        # BACK objects add points (their clusters are in the scene) but no box
        inside_back = points_in_boxes(torch.from_numpy(scene.points[:, :3]), torch.from_numpy(scene.back_boxes))
        assert (inside_back.sum(dim=0) >= 10).all()


def test_objects_stand_on_the_backgrounds_ground_and_no_background_point_stays_inside_them(crowded):
    settings = stage(back_groups="{Car: 0}")
    database = CpspDatabase.open(crowded, 0, settings.min_points)
    seen = set()
    for index in range(12):
        scene = compose_pseudo_scene(database, settings, np.random.default_rng(100 + index))
        seen.add(scene.frame_id)
        plane = SLOPE if scene.frame_id == "sloped" else None
        bottom = scene.boxes[:, 2] - scene.boxes[:, 5] / 2
        if plane is not None:
            np.testing.assert_allclose(bottom, ground_height(plane, scene.boxes[:, :2].astype(np.float64)), atol=1e-4)
        inside = points_in_boxes(torch.from_numpy(scene.points[:, :3]), torch.from_numpy(scene.boxes)).numpy()
        assert not inside[scene.points[:, 3] == 5.0].any()  # the background's points there were removed
        assert (inside.sum(axis=0) >= 40).all()  # each object brought its 40 points
    assert seen == {"flat", "sloped"}


def test_a_database_without_objects_redraws_then_returns_a_background_instead_of_failing(tmp_path):
    rng = np.random.default_rng(0)
    writer = PartWriter(tmp_path / "labelled", 4)
    writer.add_background("only", ground(rng), None)
    writer.close({})
    settings = stage()
    scene = compose_pseudo_scene(CpspDatabase.open(tmp_path, None), settings, np.random.default_rng(0))
    assert scene.attempts == settings.redraws and len(scene.boxes) == 0 and len(scene.points) == 3000


class _Reader:
    def load_points(self, info):
        return ground(np.random.default_rng(int(info.frame_id)))


def mixed(crowded, probability: float) -> MixedDataset:
    from ssal.data.frame import FrameInfo

    config = load_config(TINY, [f"cpsp.labelled_probability={probability}", "cpsp.repeat=40"])
    labelled = DetectionDataset(_Reader(), [FrameInfo("1", "kitti", ""), FrameInfo("2", "kitti", "")], CLASSES,
                                config.model.point_cloud_range, augment=AugmentConfig(copy_paste=False), seed=3)
    return MixedDataset(labelled, crowded, config.cpsp.stage(CLASSES, False), seed=3, round_index=0)


def test_pseudo_scenes_differ_from_epoch_to_epoch_and_repeat_within_one(crowded):
    dataset = mixed(crowded, 0.0)
    assert len(dataset) == 2 * 40
    dataset.set_epoch(0)
    first = dataset[5]
    assert first["pseudo"] and np.array_equal(dataset[5]["points"], first["points"])
    dataset.set_epoch(1)
    later = dataset[5]
    assert not np.array_equal(later["gt_boxes"], first["gt_boxes"])


@pytest.mark.parametrize("probability", [0.0, 0.2, 1.0])
def test_a_sample_is_a_labelled_frame_with_probability_p(crowded, probability):
    dataset = mixed(crowded, probability)
    dataset.stage = dataset.stage.__class__(**{**dataset.stage.__dict__, "repeat": 1000})
    share = np.mean([dataset.is_labelled(i) for i in range(len(dataset))])
    assert share == pytest.approx(probability, abs=0.03)
    assert dataset[0]["pseudo"] == (not dataset.is_labelled(0))
