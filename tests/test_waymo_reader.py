"""The Waymo reader on OpenPCDet's processed layout: what OpenPCDet's WaymoDataset does with these files, ours does
too (split order, sampling interval, LEVEL_2, tanh intensity, no-label-zone points, ``unknown`` objects), from
any of the info sources, and fast on the second read."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from ssal.cli import main
from ssal.data.config import DataConfig
from ssal.data.datasets import dataset_from_config
from ssal.data.frame import WaymoAnnotations
from ssal.data.waymo import WaymoDataset

TAG = "waymo_processed_data_v0_5_0"
SEQUENCES = {"train": ["segment-111_with_camera_labels", "segment-222_with_camera_labels"],
             "val": ["segment-333_with_camera_labels"]}
FRAMES_PER_SEQUENCE = {"segment-111_with_camera_labels": 5, "segment-222_with_camera_labels": 3,
                       "segment-333_with_camera_labels": 2}


def _annos(k: int) -> dict:
    """Four objects per frame: a Vehicle (labelled LEVEL_2 in odd frames), a Pedestrian with k + 3 points, a Sign
    and an ``unknown`` one. Boxes as OpenPCDet 0.6 writes them: 7 values and the velocity."""
    names = np.array(["Vehicle", "Pedestrian", "Sign", "unknown"])
    boxes = np.array([[10.0 + k, 2.0, 0.9, 4.7, 2.1, 1.8, 0.1, 5.0, 0.0],
                      [-5.0, -3.0, 0.9, 0.9, 0.8, 1.7, 1.2, 0.5, 0.5],
                      [20.0, 8.0, 2.5, 0.1, 0.8, 0.8, 0.0, 0.0, 0.0],
                      [0.0, 30.0, 0.5, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]])
    return {"name": names, "difficulty": np.array([2 if k % 2 else 0, 0, 0, 0]), "dimensions": boxes[:, 3:6],
            "location": boxes[:, :3], "heading_angles": boxes[:, 6],
            "obj_ids": np.array(["veh-a", "ped-b", "sign-c", "unk-d"]), "tracking_difficulty": np.zeros(4, int),
            "num_points_in_gt": np.array([120, k + 3, 40, 7]), "speed_global": boxes[:, 7:9],
            "accel_global": np.zeros((4, 2)), "gt_boxes_lidar": boxes}


def _frame(sequence: str, k: int) -> dict:
    return {"point_cloud": {"num_features": 5, "lidar_sequence": sequence, "sample_idx": k},
            "frame_id": f"{sequence}_{k:03d}", "metadata": {"context_name": sequence, "timestamp_micros": 1000 + k},
            "image": {}, "pose": np.eye(4, dtype=np.float32), "annos": _annos(k),
            "num_points_of_each_lidar": [4, 0, 0, 0, 0]}


def _points(k: int) -> np.ndarray:
    """Four points: raw intensities 0, 0.5, 2, 10; the last one in a no-label zone."""
    return np.array([[1.0, 0.0, 0.0, 0.0, 0.1, -1], [2.0, 0.0, 0.0, 0.5, 0.2, -1],
                     [3.0, 0.0, 0.0, 2.0, 0.3, -1], [4.0, float(k), 0.0, 10.0, 0.4, 1]], dtype=np.float32)


def write_layout(root: Path, split_pickles: bool = True) -> Path:
    """OpenPCDet's processed Waymo layout with the sequences above (ImageSets lines end in .tfrecord, as in
    OpenPCDet's)."""
    (root / "ImageSets").mkdir(parents=True)
    for split, sequences in SEQUENCES.items():
        (root / "ImageSets" / f"{split}.txt").write_text("".join(f"{s}.tfrecord\n" for s in sequences))
        every = []
        for sequence in sequences:
            folder = root / TAG / sequence
            folder.mkdir(parents=True)
            frames = [_frame(sequence, k) for k in range(FRAMES_PER_SEQUENCE[sequence])]
            for k in range(len(frames)):
                np.save(folder / f"{k:04d}.npy", _points(k))
            (folder / f"{sequence}.pkl").write_bytes(pickle.dumps(frames))
            every += frames
        if split_pickles:
            (root / f"{TAG}_infos_{split}.pkl").write_bytes(pickle.dumps(every))
    return root


@pytest.fixture
def layout(tmp_path) -> Path:
    return write_layout(tmp_path / "waymo")


def test_a_split_is_its_sequences_frames_in_imagesets_order(layout):
    dataset = WaymoDataset(layout)
    assert dataset.available_splits() == ["train", "val"]
    assert dataset.split_ids("train") == [f"segment-111_with_camera_labels_{k:03d}" for k in range(5)] + \
        [f"segment-222_with_camera_labels_{k:03d}" for k in range(3)]
    info = dataset.infos("val")[1]
    assert info.points_path == f"{TAG}/segment-333_with_camera_labels/0001.npy"
    assert info.extra["sequence"] == "segment-333_with_camera_labels" and info.extra["sample_idx"] == 1
    assert info.extra["timestamp_micros"] == 1001 and info.extra["pose"].shape == (4, 4)


def test_the_sampling_interval_takes_every_kth_frame_of_the_whole_split_as_openpcdet(layout):
    every = WaymoDataset(layout).split_ids("train")
    sampled = WaymoDataset(layout, sampled_interval={"train": 3})
    assert sampled.split_ids("train") == every[::3]  # across the sequence boundary, as OpenPCDet's infos[::k]
    assert len(sampled.split_ids("val")) == 2  # splits not named keep every frame
    with pytest.raises(Exception, match="sampled_interval.train"):
        WaymoDataset(layout, sampled_interval={"train": 0})


def test_level_2_is_labelled_so_or_at_most_five_points_and_unknown_objects_are_dropped(layout):
    infos = WaymoDataset(layout).infos("train")
    for info in infos[:5]:
        annos, k = info.annos, info.extra["sample_idx"]
        assert isinstance(annos, WaymoAnnotations)
        assert list(annos.name) == ["Vehicle", "Pedestrian", "Sign"]  # Sign stays; a run ignores classes it lacks
        vehicle_level = 2 if k % 2 else 1
        pedestrian_level = 2 if k + 3 <= 5 else 1
        assert list(annos.difficulty) == [vehicle_level, pedestrian_level, 1]
        assert annos.gt_boxes_lidar.shape == (3, 7) and annos.gt_boxes_lidar.dtype == np.float32
        assert list(annos.obj_ids) == ["veh-a", "ped-b", "sign-c"]
        np.testing.assert_allclose(annos.speed_global[0], [5.0, 0.0])
        assert annos.count(["Vehicle", "Pedestrian", "Cyclist"]) == 2


def test_points_carry_tanh_intensity_and_no_label_zone_points_are_kept_or_dropped(layout):
    kept = WaymoDataset(layout)
    info = kept.infos("train")[2]
    points = kept.load_points(info)
    assert points.dtype == np.float32 and points.shape == (4, 5)
    np.testing.assert_allclose(points[:, 3], np.tanh([0.0, 0.5, 2.0, 10.0]), rtol=1e-6)
    np.testing.assert_allclose(points[:, 4], [0.1, 0.2, 0.3, 0.4], rtol=1e-6)
    dropped = WaymoDataset(layout, drop_nlz_points=True)
    assert len(dropped.load_points(info)) == 3
    assert kept.count_points(info) == 4  # from the .npy header


def test_per_sequence_pickles_and_the_split_pickle_give_the_same_infos(tmp_path):
    with_split = WaymoDataset(write_layout(tmp_path / "a"), index_cache=False)
    without = WaymoDataset(write_layout(tmp_path / "b", split_pickles=False), index_cache=False)
    assert without.info_path("train") is None
    a, b = with_split.infos("train"), without.infos("train")
    assert [i.frame_id for i in a] == [i.frame_id for i in b]
    np.testing.assert_array_equal(a[6].annos.gt_boxes_lidar, b[6].annos.gt_boxes_lidar)
    assert [i.frame_id for i in with_split.infos("train", use_info_file=False)] == [i.frame_id for i in a]


def test_the_index_is_reused_and_rebuilt_when_an_info_pickle_changes(layout):
    first = WaymoDataset(layout).infos("train")
    index = layout / "ssal_infos" / "waymo_index_train" / "header.json"
    assert index.is_file()
    built = index.stat().st_mtime_ns
    again = WaymoDataset(layout).infos("train")
    assert index.stat().st_mtime_ns == built
    assert [i.frame_id for i in again] == [i.frame_id for i in first]
    np.testing.assert_array_equal(again[3].annos.num_points_in_gt, first[3].annos.num_points_in_gt)

    split_pickle = layout / f"{TAG}_infos_train.pkl"
    frames = pickle.loads(split_pickle.read_bytes())
    frames[0]["annos"]["num_points_in_gt"] = np.array([999, 1, 1, 1])
    split_pickle.write_bytes(pickle.dumps(frames))
    assert WaymoDataset(layout).infos("train")[0].annos.num_points_in_gt[0] == 999


def test_older_layouts_without_velocities_read_the_same(layout):
    split_pickle = layout / f"{TAG}_infos_train.pkl"
    frames = pickle.loads(split_pickle.read_bytes())
    for frame in frames:  # OpenPCDet before 0.6: 7-column boxes, no speed, acceleration or metadata
        for key in ("speed_global", "accel_global"):
            del frame["annos"][key]
        frame["annos"]["gt_boxes_lidar"] = frame["annos"]["gt_boxes_lidar"][:, :7]
        del frame["metadata"]
    split_pickle.write_bytes(pickle.dumps(frames))
    info = WaymoDataset(layout).infos("train")[1]
    assert info.annos.gt_boxes_lidar.shape == (3, 7) and np.all(info.annos.speed_global == 0)
    assert info.extra["timestamp_micros"] == -1


def test_create_infos_writes_ours_and_sampling_it_again_keeps_the_same_frames(layout):
    assert main(["data", "create-infos", "--format", "waymo", "--root", str(layout)]) == 0
    ours = layout / "ssal_infos" / "waymo_infos_train.pkl"
    assert ours.is_file()
    dataset = WaymoDataset(layout, sampled_interval={"train": 2})
    assert dataset.info_path("train") == ours
    assert dataset.split_ids("train") == WaymoDataset(layout, index_cache=False).split_ids("train")[::2]
    # A file written from an already sampled split samples to the same frames, not every 4th.
    config = DataConfig(format="waymo", root=str(layout), classes=["Vehicle", "Pedestrian", "Cyclist"],
                        sampled_interval={"train": 2}, info_files={"train": str(ours)})
    assert dataset_from_config(config).split_ids("train") == dataset.split_ids("train")
    assert isinstance(dataset.infos("train")[0].annos, WaymoAnnotations)


def test_data_info_prints_levels_per_class(layout, capsys):
    assert main(["data", "info", "--format", "waymo", "--root", str(layout)]) == 0
    out = capsys.readouterr().out
    assert "waymo dataset at" in out and "LEVEL_1" in out and "LEVEL_2" in out
    assert "DontCare" not in out
    train = out.split("boxes in split 'train'")[1].split("boxes in split")[0]
    vehicle = next(line for line in train.splitlines() if line.strip().startswith("Vehicle")).split()
    assert vehicle[1:] == ["5", "3", "8"]  # LEVEL_2: frames 1 and 3 of the first sequence, frame 1 of the second


def test_a_frame_is_found_by_id_sampled_or_not(layout):
    dataset = WaymoDataset(layout, sampled_interval={"train": 4})
    frame_id = "segment-111_with_camera_labels_002"
    assert frame_id not in dataset.split_ids("train")
    info = dataset.read_info(frame_id, "train")
    assert info.frame_id == frame_id and len(dataset.read_points(frame_id)) == 4
    assert os.path.basename(info.points_path) == "0002.npy"
