"""The synthetic world as a testbed for label efficiency: frames come from drives (neighbours overlap, the split
is by drive), the rare situations are tagged and the tags match the objects, label noise is on by default at
annotator levels and off means exact labels, and headings are not given away by where a car stands.

Expected values here are worked out from the scene itself (actor boxes, the ego pose) or from the files, not
taken from the generator's own outputs."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ssal.data.kitti_label import read_label_file
from ssal.data.synthetic.generate import Drive, Synthesizer, generate, plan_drives
from ssal.data.synthetic.presets import get_preset
from ssal.data.synthetic.scene import SITUATIONS, sample_scene

EVERY_SITUATION = {name: 1.0 for name in SITUATIONS if name != "rain"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """12 training and 8 validation frames of the small preset (5 frames per drive)."""
    root = tmp_path_factory.mktemp("drives") / "data"
    generate(root, frames=12, val_frames=8, seed=4, preset="small")
    return root


def _tags(root: Path) -> dict:
    return json.loads((root / "synth_tags.json").read_text())["frames"]


def test_drives_are_split_whole_and_in_order(dataset):
    tags = _tags(dataset)
    train = (dataset / "ImageSets" / "train.txt").read_text().split()
    val = (dataset / "ImageSets" / "val.txt").read_text().split()
    assert train == [f"{i:06d}" for i in range(12)] and val == [f"{i:06d}" for i in range(12, 20)]
    train_drives = {tags[f]["drive"] for f in train}
    val_drives = {tags[f]["drive"] for f in val}
    assert not train_drives & val_drives  # never one drive in both splits
    assert len(train_drives) == 3 and len(val_drives) == 2  # ceil(12 / 5), ceil(8 / 5)
    for frame_id in train + val:
        assert tags[frame_id]["split"] == ("train" if frame_id in train else "val")
    for drive in train_drives | val_drives:
        members = sorted(f for f in tags if tags[f]["drive"] == drive)
        assert [tags[f]["index_in_drive"] for f in members] == list(range(len(members)))
        assert int(members[-1]) - int(members[0]) == len(members) - 1  # consecutive ids


def test_plan_drives_fills_every_drive_but_the_last_of_a_split():
    drives = plan_drives(frames=11, val_frames=3, per_drive=4)
    assert [(d.split, d.first, d.frames) for d in drives] == [
        ("train", 0, 4), ("train", 4, 4), ("train", 8, 3), ("val", 11, 3)]


def test_neighbouring_frames_of_a_drive_show_the_same_things():
    synthesizer = Synthesizer("small")
    shared = []
    for number in range(4):
        frames = list(synthesizer.drive(8, Drive("train", number, 0, 3)))
        for a, b in zip(frames, frames[1:]):
            assert a.scene.actors.track_id.tolist() == b.scene.actors.track_id.tolist()  # same actors
            seen_a = {int(x) for x, n in zip(a.labels.actor, a.labels.labels.name) if n != "DontCare"}
            seen_b = {int(x) for x, n in zip(b.labels.actor, b.labels.labels.name) if n != "DontCare"}
            if seen_a:
                shared.append(len(seen_a & seen_b) / len(seen_a))
    assert np.median(shared) >= 0.5  # near-duplicates: most labelled objects are labelled again next frame


def test_val_drives_do_not_depend_on_the_number_of_training_frames(tmp_path):
    generate(tmp_path / "a", frames=2, val_frames=3, seed=6, preset="small")
    generate(tmp_path / "b", frames=7, val_frames=3, seed=6, preset="small")
    for k in range(3):
        first = (tmp_path / "a" / "training" / "velodyne" / f"{2 + k:06d}.bin").read_bytes()
        second = (tmp_path / "b" / "training" / "velodyne" / f"{7 + k:06d}.bin").read_bytes()
        assert first == second


def test_tags_file_has_an_entry_per_frame_and_a_row_per_label_line(dataset):
    tags = _tags(dataset)
    assert sorted(tags) == [f"{i:06d}" for i in range(20)]
    for frame_id, entry in tags.items():
        labels = read_label_file(dataset / "training" / "label_2" / f"{frame_id}.txt")
        assert len(entry["objects"]) == len(labels)
        for name, row in zip(labels.name, entry["objects"]):
            assert name != "DontCare" or row == []
        assert {t for row in entry["objects"] for t in row} <= set(entry["tags"])
        assert entry["weather"] in ("clear", "rain") and entry["light"] in ("day", "night")


@pytest.fixture(scope="module")
def staged_frames():
    """Frames of drives where every rare situation but rain is staged (rain is checked apart)."""
    preset = replace(get_preset("small"), situations=EVERY_SITUATION)
    synthesizer = Synthesizer(preset, label_noise=False)
    return [frame for number in range(6) for frame in synthesizer.drive(3, Drive("train", number, 0, 2))]


def test_object_tags_match_the_objects_they_are_on(staged_frames):
    seen = set()
    for frame in staged_frames:
        labels = frame.labels.labels
        assert "night" in frame.tags["tags"] and frame.tags["light"] == "night"
        for row, row_tags in enumerate(frame.tags["objects"]):
            name = str(labels.name[row])
            height = labels.dimensions[row, 1]  # KITTI label dimensions: h, w, l
            seen.update(row_tags)
            if "child" in row_tags:
                assert name == "Pedestrian" and height < 1.5
            if "children_group" in row_tags:
                assert "child" in row_tags
            if "construction_zone" in row_tags:
                assert name in ("Pedestrian", "Truck", "Misc")
            if "cyclist_among_parked" in row_tags:
                assert name == "Cyclist"
            if "car_behind_truck" in row_tags:
                assert name == "Car" and labels.occluded[row] >= 1  # some of it hidden
    assert {"child", "children_group", "construction_zone", "cyclist_among_parked"} <= seen


def test_rain_loses_returns_and_adds_spray_near_the_sensor():
    preset = get_preset("small")
    dry = next(Synthesizer(replace(preset, situations={})).drive(5, Drive("train", 0, 0, 1)))
    wet = next(Synthesizer(replace(preset, situations={"rain": 1.0})).drive(5, Drive("train", 0, 0, 1)))
    assert wet.tags["weather"] == "rain" and dry.tags["weather"] == "clear"
    near = lambda p: (np.linalg.norm(p[:, :3], axis=1) < 9.0) & (p[:, 2] > -1.2)  # above the ground, close by
    assert len(wet.scan.points) < 0.93 * len(dry.scan.points)
    assert near(wet.scan.points).sum() > near(dry.scan.points).sum() + 200


def _exact_sensor_boxes(frame) -> np.ndarray:
    """Actor boxes moved into the sensor frame by hand: centre R^T (c - o), heading minus the ego's yaw."""
    pose = frame.scene.ego_pose
    rotation = pose[:3, :3]
    origin = pose[:3, 3] + rotation[:, 2] * 1.73
    box = frame.scene.actors.box[frame.labels.actor]
    centre = (box[:, :3] - origin) @ rotation
    yaw = box[:, 6] - math.atan2(rotation[1, 0], rotation[0, 0])
    return np.concatenate((centre, box[:, 3:6], np.mod(yaw + math.pi, 2 * math.pi)[:, None] - math.pi), axis=1)


def test_exact_labels_are_the_scene_and_noisy_ones_are_close_to_it():
    drives = [Drive("train", number, 0, 4) for number in range(3)]
    exact = [f for d in drives for f in Synthesizer("small", label_noise=False).drive(9, d)]
    noisy = [f for d in drives for f in Synthesizer("small").drive(9, d)]
    offsets, turns = [], []
    for clean, rough in zip(exact, noisy):
        assert np.array_equal(clean.scan.points, rough.scan.points)  # the noise does not touch the scan
        np.testing.assert_allclose(clean.labels.boxes_lidar, _exact_sensor_boxes(clean), atol=1e-9)
        objects = clean.labels.labels.name != "DontCare"
        truth = dict(zip(clean.labels.actor[objects].tolist(), clean.labels.boxes_lidar[objects]))
        rough_objects = rough.labels.labels.name != "DontCare"
        for actor, box in zip(rough.labels.actor[rough_objects].tolist(), rough.labels.boxes_lidar[rough_objects]):
            offsets.append(box[:2] - truth[actor][:2])
            turns.append(np.mod(box[6] - truth[actor][6] + math.pi, 2 * math.pi) - math.pi)
    offsets, turns = np.asarray(offsets), np.degrees(turns)
    assert len(turns) > 20
    assert 0.015 < offsets.std() < 0.06  # a few centimetres
    assert 0.7 < turns.std() < 3.0 and np.abs(turns).max() < 8.0  # about 1.5 degrees


def test_exact_labels_switch_changes_only_label_files(tmp_path):
    generate(tmp_path / "noisy", frames=3, seed=1, preset="small")
    generate(tmp_path / "exact", frames=3, seed=1, preset="small", label_noise=False)
    for folder in ("velodyne", "calib", "planes", "image_2"):
        for path in (tmp_path / "noisy" / "training" / folder).iterdir():
            assert path.read_bytes() == (tmp_path / "exact" / "training" / folder / path.name).read_bytes()
    labels = [(tmp_path / name / "training" / "label_2" / "000000.txt").read_text() for name in ("noisy", "exact")]
    assert labels[0] != labels[1]
    manifests = [json.loads((tmp_path / name / "synth.json").read_text()) for name in ("noisy", "exact")]
    assert manifests[0]["label_noise"] is True and manifests[1]["label_noise"] is False


def test_headings_are_not_given_away_by_position():
    """Across scenes, cars stand at all angles to the road (parking bays, intersections, cars pulling out), and
    on either side of the road both headings along it occur."""
    across, facing = [], {-1: [], 1: []}
    for seed in range(60):
        scene = sample_scene(np.random.default_rng(seed))
        cars = scene.actors.box[scene.actors.name == "Car"]
        s, l = scene.road.to_road(cars[:, 0], cars[:, 1])
        relative = cars[:, 6] - (scene.road.heading + scene.road.curvature * s)
        across += np.abs(np.sin(relative)).tolist()
        along = np.abs(np.sin(relative)) < 0.3
        for side in (-1, 1):
            rows = along & (np.sign(l) == side) & (np.abs(l) > scene.road.lanes * scene.road.lane_width)
            facing[side] += np.sign(np.cos(relative[rows])).tolist()
    across = np.asarray(across)
    # (the world before drives: 11 % of cars at more than 30 degrees, and 87 % of those parked on the right
    # facing the traffic's way)
    assert (across > 0.5).mean() > 0.2  # more than a fifth of the cars at more than 30 degrees to the road
    for side in (-1, 1):  # parked on either side, both ways round
        assert 0.12 < np.mean(np.asarray(facing[side]) > 0) < 0.85


def test_show_draws_a_drive_and_names_a_missing_tag(dataset, tmp_path, capsys):
    from ssal.cli import main

    picture = tmp_path / "drive.png"
    assert main(["synth", "show", "--root", str(dataset), "--drive", "val-0001", "--png", str(picture)]) == 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["synth", "show", "--root", str(dataset), "--tags", "no_such_tag", "--png", str(picture)]) == 1
    assert capsys.readouterr().err.startswith("error: --tags: no frame carries the tag 'no_such_tag'")
