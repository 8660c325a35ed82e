"""The KITTI reader on real frames: what OpenPCDet users already have must read identically."""

import pickle

import numpy as np
import pytest

from ssal.data.infos import load_infos, save_infos
from ssal.data.kitti import KittiDataset


@pytest.fixture(scope="module")
def dataset(kitti_sample):
    return KittiDataset(kitti_sample)


@pytest.fixture(scope="module")
def openpcdet_train(openpcdet_infos):
    with open(openpcdet_infos / "kitti_infos_train.pkl", "rb") as handle:
        return pickle.load(handle)


def test_split_ids_follow_imagesets(dataset):
    assert dataset.split_ids("train") == ["000000", "000003", "000007", "000009", "000010"]
    assert len(dataset.split_ids("val")) == 7


@pytest.mark.parametrize("index", range(6))
def test_raw_files_give_openpcdet_boxes_point_counts_and_difficulty(dataset, openpcdet_train, index):
    reference = openpcdet_train[index]
    ours = dataset.read_info(reference["point_cloud"]["lidar_idx"])
    objects = len(ours.annos)
    expected = reference["annos"]
    np.testing.assert_allclose(ours.annos.gt_boxes_lidar, expected["gt_boxes_lidar"], atol=1e-4)
    np.testing.assert_array_equal(ours.annos.num_points_in_gt, expected["num_points_in_gt"][:objects])
    np.testing.assert_array_equal(ours.annos.difficulty, expected["difficulty"][:objects])
    assert ours.image_shape == tuple(int(v) for v in reference["image"]["image_shape"])
    assert len(ours.dontcare) == int((expected["name"] == "DontCare").sum())


def test_frame_000000_pedestrian_has_377_points(dataset):
    info = dataset.read_info("000000")
    assert list(info.annos.name) == ["Pedestrian"]
    assert info.annos.num_points_in_gt[0] == 377


def test_openpcdet_info_pickles_load_through_our_reader(openpcdet_infos, dataset):
    infos = load_infos(openpcdet_infos / "kitti_infos_train.pkl")
    assert [info.frame_id for info in infos] == ["000000", "000001", "000002", "000003", "000004", "000005"]
    frame = dataset.load_frame(infos[1])
    assert list(infos[1].annos.name) == ["Truck", "Car", "Cyclist"]
    assert list(infos[1].dontcare.name) == ["DontCare"] * 4
    assert frame.points.dtype == np.float32 and frame.points.shape[1] == 4
    # The FOV crop keeps the part of the scan in front of the camera.
    assert 10_000 < len(frame.points) < len(dataset.load_points(infos[1], fov_only=False)) / 3


def test_infos_from_openpcdet_and_from_raw_files_agree(openpcdet_infos, dataset):
    theirs = {info.frame_id: info for info in load_infos(openpcdet_infos / "kitti_infos_train.pkl")}
    for frame_id in ("000000", "000003"):
        ours = dataset.read_info(frame_id)
        np.testing.assert_allclose(ours.annos.gt_boxes_lidar, theirs[frame_id].annos.gt_boxes_lidar, atol=1e-4)
        np.testing.assert_allclose(ours.calib.P2, theirs[frame_id].calib.P2)
        np.testing.assert_allclose(ours.annos.location, theirs[frame_id].annos.location, atol=1e-6)


def test_our_info_file_round_trips(tmp_path, dataset):
    infos = dataset.infos("train")
    save_infos(tmp_path / "infos.pkl", infos, "kitti", "train")
    loaded = load_infos(tmp_path / "infos.pkl")
    assert [i.frame_id for i in loaded] == [i.frame_id for i in infos]
    for before, after in zip(infos, loaded):
        np.testing.assert_array_equal(before.annos.gt_boxes_lidar, after.annos.gt_boxes_lidar)
        np.testing.assert_array_equal(before.annos.num_points_in_gt, after.annos.num_points_in_gt)
        assert list(before.dontcare.name) == list(after.dontcare.name)
        assert before.image_shape == after.image_shape


def test_ground_plane_in_lidar_frame_is_below_the_sensor(tmp_path, kitti_sample, dataset):
    info = dataset.read_info("000003")
    info.plane = np.array([0.0, -1.0, 0.0, 1.65])  # KITTI's typical plane: 1.65 m below camera 0
    a, b, c, d = info.ground_plane_lidar()
    assert c > 0.99  # normal points up
    assert -d / c == pytest.approx(-1.73, abs=0.1)  # the ground lies ~1.73 m below the LiDAR
