"""``ssal synth``: a KITTI-layout dataset made on the spot from drives, byte-identical for a seed, read back by the
KITTI reader, with KITTI's mix of classes, difficulties and point densities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssal.cli import main
from ssal.data.kitti import KittiDataset
from ssal.data.synthetic.generate import Drive, Synthesizer, generate
from ssal.errors import SsalError

TARGETS = ("Car", "Pedestrian", "Cyclist")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    """24 training and 6 validation frames of the small preset."""
    root = tmp_path_factory.mktemp("synth") / "data"
    generate(root, frames=24, val_frames=6, seed=5, preset="small")
    return root


@pytest.fixture(scope="module")
def frames():
    """60 small-preset frames in memory (scene, scan and labels), for statistics: 30 drives of 2 frames."""
    synthesizer = Synthesizer("small")
    return [frame for d in range(30) for frame in synthesizer.drive(1, Drive("train", d, 2 * d, 2))]


def test_same_seed_writes_the_same_bytes_and_another_seed_other_bytes(tmp_path):
    generate(tmp_path / "a", frames=3, val_frames=1, seed=42, preset="small")
    generate(tmp_path / "b", frames=3, val_frames=1, seed=42, preset="small")
    generate(tmp_path / "c", frames=3, val_frames=1, seed=43, preset="small")
    first, again, other = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert first == again
    assert len(first) == 4 * 5 + 4 + 2  # five files per frame, four split lists, synth.json, synth_tags.json
    velodyne = [name for name in first if name.startswith("training/velodyne")]
    assert all(first[name] != other[name] for name in velodyne)


def test_worker_processes_write_the_same_bytes(tmp_path):
    generate(tmp_path / "serial", frames=10, val_frames=3, seed=3, preset="small")
    generate(tmp_path / "pool", frames=10, val_frames=3, seed=3, preset="small", workers=2)
    assert _files(tmp_path / "serial") == _files(tmp_path / "pool")


def test_the_kitti_reader_reads_it_back(small_dataset):
    dataset = KittiDataset(small_dataset)
    train, val = dataset.split_ids("train"), dataset.split_ids("val")
    assert train == [f"{i:06d}" for i in range(24)] and val == [f"{i:06d}" for i in range(24, 30)]
    assert dataset.split_ids("trainval") == train + val
    info = dataset.read_info("000003")
    assert info.image_shape == (375, 1242)
    assert info.plane is not None and info.plane[1] == pytest.approx(-1.0, abs=0.02)
    assert 1.55 < info.plane[3] < 1.75  # the camera is about 1.65 m above the road
    plane = info.ground_plane_lidar()
    assert plane[3] == pytest.approx(1.73, abs=0.1)  # and the LiDAR about 1.73 m
    points = dataset.read_points("000003", fov_only=False)
    assert points.dtype == np.float32 and points.shape[1] == 4
    assert 0.0 <= points[:, 3].min() and points[:, 3].max() <= 1.0


def test_labels_carry_consistent_kitti_fields(small_dataset):
    dataset = KittiDataset(small_dataset)
    difficulties = []
    for frame_id in dataset.split_ids("trainval"):
        info = dataset.read_info(frame_id)
        annos = info.annos
        expected_alpha = np.mod(annos.rotation_y - np.arctan2(annos.location[:, 0], annos.location[:, 2]) + np.pi,
                                2 * np.pi) - np.pi
        np.testing.assert_allclose(np.cos(annos.alpha - expected_alpha), 1.0, atol=2e-4)  # 2-decimal rounding
        assert np.all((annos.truncated >= 0) & (annos.truncated <= 1))
        assert np.all(np.isin(annos.occluded, (0, 1, 2, 3)))
        assert np.all((annos.bbox[:, 0] >= 0) & (annos.bbox[:, 2] <= 1241) & (annos.bbox[:, 3] <= 374))
        assert np.all(annos.location[:, 2] > 0)  # in front of the camera, as everything KITTI labels
        assert np.all(np.isin(annos.name, ("Car", "Van", "Truck", "Tram", "Misc", "Pedestrian", "Person_sitting",
                                           "Cyclist")))
        for row in info.dontcare.location:
            assert row.tolist() == [-1000.0, -1000.0, -1000.0]
        difficulties += annos.difficulty[np.isin(annos.name, TARGETS)].tolist()
    counts = np.bincount(np.asarray(difficulties) + 1, minlength=4)  # none, Easy, Moderate, Hard
    assert np.all(counts > 0), f"difficulty counts (none, E, M, H): {counts}"


def test_class_mix_and_boxes_per_frame_are_kitti_like(frames):
    names = np.concatenate([f.labels.labels.name for f in frames])
    counts = {name: int((names == name).sum()) for name in TARGETS}
    total = sum(counts.values())
    assert 2.5 <= total / len(frames) <= 8.0  # KITTI: about 4.7
    assert 0.55 <= counts["Car"] / total <= 0.85
    assert 0.08 <= counts["Pedestrian"] / total <= 0.35
    assert 0.02 <= counts["Cyclist"] / total <= 0.15
    per_frame = np.array([np.isin(f.labels.labels.name, TARGETS).sum() for f in frames])
    median = max(np.median(per_frame), 1)
    assert per_frame.max() >= 2 * median and per_frame.min() <= median / 4  # crowded frames next to quiet ones
    pedestrians = np.array([(f.labels.labels.name == "Pedestrian").sum() for f in frames])
    assert (pedestrians == 0).mean() > 0.3  # many frames without a pedestrian, as in KITTI
    assert np.isin(names, ("Van", "Truck", "Tram", "Misc")).any() and (names == "DontCare").any()


def test_points_per_object_fall_with_distance_and_occlusion(frames):
    rows = []
    for frame in frames:
        labels = frame.labels
        is_car = labels.labels.name == "Car"
        distance = np.hypot(labels.boxes_lidar[:, 0], labels.boxes_lidar[:, 1])
        rows += zip(distance[is_car], labels.labels.occluded[is_car], labels.points[is_car])
    distance, occluded, points = map(np.asarray, zip(*rows))
    near, far = points[distance < 20], points[(distance >= 30) & (distance < 70)]
    assert np.median(near) > 4 * np.median(far)
    mid = (distance >= 15) & (distance < 45)
    visible, hidden = points[mid & (occluded == 0)], points[mid & (occluded == 2)]
    assert len(visible) > 5 and len(hidden) > 5
    assert np.median(visible) > 1.5 * np.median(hidden)


def test_scenes_vary(frames):
    styles = {frame.scene.style for frame in frames}
    assert styles == {"residential", "city", "highway", "campus"}
    points = np.array([len(frame.scan.points) for frame in frames])
    assert points.std() > 0.01 * points.mean()


def test_refuses_a_non_empty_folder_unless_overwrite(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SsalError, match="not empty.*--overwrite"):
        generate(out, frames=1, seed=0, preset="small")
    (out / "training" / "velodyne").mkdir(parents=True)
    (out / "training" / "velodyne" / "999999.bin").write_bytes(b"old")
    generate(out, frames=2, seed=0, preset="small", overwrite=True)
    assert not (out / "training" / "velodyne" / "999999.bin").exists()  # earlier frames are gone
    assert (out / "notes.txt").read_text() == "mine"  # other files are left alone
    assert (out / "ImageSets" / "train.txt").read_text() == "000000\n000001\n"


@pytest.mark.parametrize("kwargs, where", [
    ({"frames": 0}, "--frames"), ({"frames": -3}, "--frames"), ({"val_frames": -1}, "--val-frames"),
    ({"seed": -1}, "--seed"), ({"preset": "waymo"}, "--preset"), ({"workers": 0}, "--workers"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, kwargs, where):
    arguments = {"frames": 2, "seed": 0, "preset": "small", **kwargs}
    with pytest.raises(SsalError) as error:
        generate(tmp_path / "out", **arguments)
    assert error.value.where == where
    assert "\n" not in str(error.value)


def test_command_line(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["synth", "--out", str(out), "--frames", "2", "--val-frames", "1", "--seed", "9",
                 "--preset", "small"]) == 0
    assert "wrote 3 frames" in capsys.readouterr().out
    assert main(["synth", "--out", str(out), "--frames", "2", "--seed", "9", "--preset", "small"]) == 1
    assert capsys.readouterr().err.startswith(f"error: {out}: output folder exists and is not empty")
    assert main(["synth", "--out", str(out), "--frames", "-2", "--seed", "9", "--overwrite"]) == 1
    assert capsys.readouterr().err == "error: --frames: must be a positive integer, got -2\n"
    assert main(["synth", "--out", str(out), "--frames", "2", "--seed", "9", "--preset", "tiny"]) == 1
    assert "unknown preset 'tiny'" in capsys.readouterr().err
    assert main(["synth", "--frames", "2", "--seed", "9"]) == 1
    assert capsys.readouterr().err.startswith("error: --out: is required")


def test_ground_under_labelled_objects_matches_the_plane_file(small_dataset):
    """Objects near the road stand on the plane file's road plane (kerbs, crossfall and hills stay within 0.35 m);
    only the terrain beyond the sidewalks (embankments up to 1.2 m, a car park on a slope) may leave it."""
    dataset = KittiDataset(small_dataset)
    gaps = []
    for frame_id in dataset.split_ids("trainval"):
        info = dataset.read_info(frame_id)
        plane = info.ground_plane_lidar()
        near = info.annos.gt_boxes_lidar[np.hypot(*info.annos.gt_boxes_lidar[:, :2].T) < 25]
        for box in near:
            bottom = box[2] - box[5] / 2
            on_plane = -(plane[0] * box[0] + plane[1] * box[1] + plane[3]) / plane[2]
            gaps.append(abs(bottom - on_plane))
    gaps = np.asarray(gaps)
    assert len(gaps) > 20
    assert np.median(gaps) < 0.1 and (gaps < 0.35).mean() > 0.85 and gaps.max() < 1.4
