"""Samples and batches: target classes only, cropped to the range, reproducible per (seed, epoch, item)."""

import numpy as np
import pytest

from ssal.data.augment import AugmentConfig
from ssal.data.database import build_object_database
from ssal.data.kitti import KittiDataset
from ssal.data.loader import DetectionDataset, collate

RANGE = [0, -39.68, -3, 69.12, 39.68, 1]
CLASSES = ["Car", "Pedestrian", "Cyclist"]


@pytest.fixture(scope="module")
def reader(kitti_sample):
    return KittiDataset(kitti_sample)


@pytest.fixture(scope="module")
def training_set(reader):
    infos = reader.infos("train")
    database = build_object_database([reader.load_frame(i) for i in infos], CLASSES)
    return DetectionDataset(reader, infos, CLASSES, RANGE, AugmentConfig(), database, seed=3)


def test_inference_items_keep_target_classes_inside_the_range(reader):
    infos = reader.infos("val")
    item = DetectionDataset(reader, infos, CLASSES, RANGE)[infos.index(next(i for i in infos if i.frame_id == "000001"))]
    # frame 000001: Truck (not a target), Car, Cyclist
    assert item["gt_boxes"][:, 7].tolist() == [1.0, 3.0]
    points = item["points"]
    assert points.dtype == np.float32 and points.shape[1] == 4
    assert points[:, 0].min() >= 0 and points[:, 0].max() < 69.12 and np.abs(points[:, 1]).max() < 39.68


def test_augmented_items_are_reproducible_and_change_each_epoch(training_set):
    training_set.set_epoch(0)
    first, again = training_set[2], training_set[2]
    np.testing.assert_array_equal(first["points"], again["points"])
    np.testing.assert_array_equal(first["gt_boxes"], again["gt_boxes"])
    training_set.set_epoch(1)
    assert not np.array_equal(first["gt_boxes"], training_set[2]["gt_boxes"])


def test_copy_paste_adds_objects(training_set, reader):
    training_set.set_epoch(0)
    item = training_set[0]  # frame 000000 has a single pedestrian
    assert len(item["gt_boxes"]) > 1


def test_collate_pads_boxes_and_tags_points_with_the_batch_index(training_set):
    items = [training_set[i] for i in range(3)]
    batch = collate(items)
    assert batch["batch_size"] == 3 and batch["frame_ids"] == [it["frame_id"] for it in items]
    assert batch["gt_boxes"].shape == (3, max(len(it["gt_boxes"]) for it in items), 8)
    assert batch["points"].shape == (sum(len(it["points"]) for it in items), 5)
    assert set(batch["points"][:, 0].unique().tolist()) == {0.0, 1.0, 2.0}
    padded = batch["gt_boxes"][0, len(items[0]["gt_boxes"]):]
    assert (padded == 0).all()


def test_frame_without_boxes_collates(reader):
    infos = reader.infos("train")
    empty = DetectionDataset(reader, infos, ["Tram"], RANGE)
    batch = collate([empty[0], empty[1]])
    assert batch["gt_boxes"].shape == (2, 1, 8) and (batch["gt_boxes"] == 0).all()


def test_boxes_without_points_can_be_left_out_of_training(reader):
    import copy

    info = copy.deepcopy(reader.read_info("000010"))
    info.annos.num_points_in_gt[:2] = 0  # as Waymo labels objects the LiDAR never saw
    keep_all = DetectionDataset(reader, [info], CLASSES, RANGE, AugmentConfig(copy_paste=False), seed=0)
    drop = DetectionDataset(reader, [info], CLASSES, RANGE, AugmentConfig(copy_paste=False), seed=0,
                            drop_empty_boxes=True)
    assert len(drop[0]["gt_boxes"]) == len(keep_all[0]["gt_boxes"]) - 2


def test_ground_planes_are_estimated_once_per_frame_not_every_epoch(reader, monkeypatch):
    import dataclasses

    from ssal.data import loader

    calls = []
    real = loader.frame_ground
    monkeypatch.setattr(loader, "frame_ground", lambda info, points: calls.append(info.frame_id) or real(info, points))
    infos = [dataclasses.replace(info, plane=None) for info in reader.infos("train")]  # no plane files: estimate
    dataset = DetectionDataset(reader, infos, CLASSES, RANGE, AugmentConfig(), None, seed=3)
    dataset.set_epoch(0)  # in the main process, before workers fork: they inherit the planes
    first = dataset[1]["points"]
    dataset.set_epoch(1)
    dataset[1]
    dataset.set_epoch(0)
    assert sorted(calls) == sorted(info.frame_id for info in infos)
    np.testing.assert_array_equal(dataset[1]["points"], first)
