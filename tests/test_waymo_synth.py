"""``ssal synth --format waymo``: the synthetic world in OpenPCDet's processed Waymo layout, byte-identical for a
seed, read back by the Waymo reader: sequences of consecutive frames from a moving car, 360 degree scans, Waymo's
classes and sizes, objects that keep their ids."""

from __future__ import annotations

import itertools
import pickle
from pathlib import Path

import numpy as np
import pytest

from ssal.cli import main
from ssal.data.synthetic.waymo_generate import FRAME_INTERVAL, generate_waymo
from ssal.data.waymo import WaymoDataset
from ssal.errors import SsalError

TAG = "waymo_processed_data_v0_5_0"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Three training sequences and one validation sequence of six frames, waymo-small preset."""
    root = tmp_path_factory.mktemp("waymo_synth") / "waymo"
    generate_waymo(root, sequences=3, frames_per_sequence=6, seed=7, val_sequences=1, preset="waymo-small")
    return root


def test_same_seed_writes_the_same_bytes_in_one_process_or_two(tmp_path):
    generate_waymo(tmp_path / "a", 2, 2, seed=3, preset="waymo-small")
    generate_waymo(tmp_path / "b", 2, 2, seed=3, preset="waymo-small", workers=2)
    generate_waymo(tmp_path / "c", 2, 2, seed=4, preset="waymo-small")
    first, again, other = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert first == again
    # per sequence: 2 frames and its pickle; per split: the info pickle and ImageSets; synth.json
    assert len(first) == 2 * 3 + 2 * 2 + 1
    sequence_files = {name for name in first if name.startswith(f"{TAG}/")}
    assert not sequence_files & set(other)  # another seed makes other sequences
    assert first["ImageSets/train.txt"] != other["ImageSets/train.txt"]


def test_the_layout_is_openpcdets(world):
    assert (world / "ImageSets" / "train.txt").read_text().count(".tfrecord\n") == 3
    frames = pickle.loads((world / f"{TAG}_infos_train.pkl").read_bytes())
    assert len(frames) == 18
    frame = frames[7]
    sequence = frame["point_cloud"]["lidar_sequence"]
    assert frame["frame_id"] == f"{sequence}_{frame['point_cloud']['sample_idx']:03d}"
    assert set(frame) == {"point_cloud", "frame_id", "metadata", "image", "pose", "annos", "num_points_of_each_lidar"}
    assert set(frame["annos"]) == {"name", "difficulty", "dimensions", "location", "heading_angles", "obj_ids",
                                   "tracking_difficulty", "num_points_in_gt", "speed_global", "accel_global",
                                   "gt_boxes_lidar"}
    assert frame["pose"].dtype == np.float32 and frame["pose"].shape == (4, 4)
    points = np.load(world / TAG / sequence / f"{frame['point_cloud']['sample_idx']:04d}.npy")
    assert points.dtype == np.float32 and points.shape[1] == 6
    assert set(np.unique(points[:, 5])) <= {-1.0, 1.0}
    assert frame["num_points_of_each_lidar"] == [len(points), 0, 0, 0, 0]
    assert pickle.loads((world / TAG / sequence / f"{sequence}.pkl").read_bytes())[1]["frame_id"] == \
        frames[7]["frame_id"]


def test_the_scan_sees_all_around_to_75_m_from_2_m_up(world):
    dataset = WaymoDataset(world)
    points = dataset.load_points(dataset.infos("train")[0])
    angles = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    assert np.histogram(angles, bins=8, range=(-180, 180))[0].min() > 100  # every 45 degree sector
    distance = np.linalg.norm(points[:, :3] - [0.0, 0.0, 2.0], axis=1)
    assert distance.max() < 76.0
    assert abs(np.median(points[np.hypot(points[:, 0], points[:, 1]) < 12, 2])) < 0.3  # ground at z = 0
    assert 0.0 <= points[:, 3].min() and points[:, 3].max() < 1.0  # tanh(intensity)


def test_sequences_move_and_objects_keep_their_ids(world):
    infos = WaymoDataset(world).infos("train")
    by_sequence: dict[str, list] = {}
    for info in infos:
        by_sequence.setdefault(info.extra["sequence"], []).append(info)
    assert len(by_sequence) == 3 and all(len(v) == 6 for v in by_sequence.values())
    for frames in by_sequence.values():
        times = np.array([f.extra["timestamp_micros"] for f in frames])
        assert np.all(np.diff(times) == FRAME_INTERVAL * 1e6)
        steps = [np.linalg.norm(b.extra["pose"][:3, 3] - a.extra["pose"][:3, 3]) for a, b in itertools.pairwise(frames)]
        assert np.allclose(steps, steps[0], atol=0.05) and steps[0] < 1.4  # steady, under 14 m/s
        first, last = set(frames[0].annos.obj_ids), set(frames[-1].annos.obj_ids)
        assert len(first & last) >= 0.7 * len(first)  # the same objects, half a second later
        assert len(set(frames[0].annos.obj_ids)) == len(frames[0].annos)  # one id per object
    moving = [f for f in by_sequence.values() if np.linalg.norm(f[-1].extra["pose"][:3, 3] - f[0].extra["pose"][:3, 3])
              > 1.0]
    assert moving, "at least one sequence has a moving car"


def test_labels_use_waymo_classes_sizes_and_levels(world):
    infos = WaymoDataset(world).infos("train") + WaymoDataset(world).infos("val")
    names = np.concatenate([i.annos.name for i in infos])
    boxes = np.concatenate([i.annos.gt_boxes_lidar for i in infos])
    assert set(names) <= {"Vehicle", "Pedestrian", "Cyclist"} and "Vehicle" in names and "Pedestrian" in names
    vehicle = boxes[names == "Vehicle"]
    assert 4.3 < np.median(vehicle[:, 3]) < 5.2 and 1.7 < np.median(vehicle[:, 4]) < 2.2  # US-sized
    people = boxes[names == "Pedestrian"]
    assert 0.7 < np.median(people[:, 4]) < 1.0
    assert np.all(np.hypot(boxes[:, 0], boxes[:, 1]) <= 75.0)
    levels = np.concatenate([i.annos.difficulty for i in infos])
    counts = np.concatenate([i.annos.num_points_in_gt for i in infos])
    assert set(levels) == {1, 2} and np.all(levels[counts <= 5] == 2)


def test_num_points_in_gt_counts_the_points_in_each_box(world):
    dataset = WaymoDataset(world)
    info = dataset.infos("train")[4]
    points = dataset.load_points(info)
    # Counted here by hand (each box's frame: shift, turn by -heading, compare with the half sizes), not with the
    # geometry function the generator itself uses.
    boxes = info.annos.gt_boxes_lidar.astype(np.float64)
    xyz = points[:, :3].astype(np.float64)
    recount = []
    for x, y, z, length, width, height, heading in boxes:
        dx, dy, dz = xyz[:, 0] - x, xyz[:, 1] - y, xyz[:, 2] - z
        c, s = np.cos(heading), np.sin(heading)
        along, across = c * dx + s * dy, -s * dx + c * dy
        recount.append(int(((np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)
                            & (np.abs(dz) <= height / 2)).sum()))
    assert sum(recount) > 50
    np.testing.assert_allclose(recount, info.annos.num_points_in_gt, atol=1)  # float32 boxes at the faces


def test_the_command_writes_a_dataset_and_names_wrong_arguments(tmp_path, capsys):
    out = tmp_path / "w"
    assert main(["synth", "--format", "waymo", "--out", str(out), "--sequences", "1", "--frames-per-sequence", "2",
                 "--seed", "0", "--preset", "waymo-small"]) == 0
    assert "wrote 1 sequences of 2 frames" in capsys.readouterr().out
    assert len(WaymoDataset(out).split_ids("train")) == 2
    assert main(["synth", "--format", "waymo", "--out", str(out), "--frames", "2", "--seed", "0"]) == 1
    assert "--frames: does not apply to --format waymo" in capsys.readouterr().err
    assert main(["synth", "--format", "waymo", "--out", str(tmp_path / "x"), "--sequences", "1",
                 "--frames-per-sequence", "2", "--seed", "0", "--preset", "small"]) == 1
    assert "unknown preset 'small' for --format waymo" in capsys.readouterr().err
    assert main(["synth", "--format", "waymo", "--out", str(out), "--sequences", "1", "--frames-per-sequence", "2",
                 "--seed", "0", "--preset", "waymo-small"]) == 1  # not empty, no --overwrite
    with pytest.raises(SsalError, match="--frames-per-sequence"):
        generate_waymo(tmp_path / "y", 1, 0, seed=0)
