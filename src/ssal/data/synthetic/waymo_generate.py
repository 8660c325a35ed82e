"""Generate a synthetic dataset in OpenPCDet's processed Waymo layout: sequences of consecutive frames at 10 Hz,
seen by a 360 degree top LiDAR on a car driving down the street, with moving actors that keep their ids.

Sequence i draws its scene, the car's speed, its global frame, ids and no-label zone from
``SeedSequence([seed, i])`` and the sensor noise of its frame k from ``SeedSequence([seed, i, k + 1])``, so a
sequence is the same whatever order or number of processes made it: the same seed writes the same bytes.
Sequences 0 .. S-1 form the train split, the next V the val split.

Point features as Waymo's processing stores them: intensity is written so that OpenPCDet's ``tanh`` gives back
the echo strength of the simulated sensor (0 to 1), elongation is small noise growing with range, and the NLZ
flag is 1 inside the sequence's no-label zone, -1 elsewhere. Only the top LiDAR is simulated
(``num_points_of_each_lidar`` lists 0 for the other four).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssal.data.synthetic import waymo_writer
from ssal.data.synthetic.generate import Summary
from ssal.data.synthetic.jobs import check_count, check_seed, progress_bar, run_jobs
from ssal.data.synthetic.presets import Preset, get_preset
from ssal.data.synthetic.scene import sample_scene
from ssal.data.synthetic.sensor import Lidar, Scan
from ssal.data.synthetic.sequence import drop_colliding, plan_motion, scene_at
from ssal.data.synthetic.waymo_labels import (
    frame_annotations,
    labelled_in_sequence,
    object_ids,
    observe,
    waymo_names,
)
from ssal.data.synthetic.waymo_scene import NoLabelZone, enlarge_cars, sample_no_label_zone

FRAME_INTERVAL = 0.1  # seconds: Waymo's LiDAR turns at 10 Hz
CAMERA_SHAPES = ((1280, 1920), (1280, 1920), (1280, 1920), (886, 1920), (886, 1920))  # front, front sides, sides
STOPPED = 0.2  # share of sequences where the car waits (at a light, in a jam)
EGO_SPEED = (3.0, 13.0)  # m/s otherwise


@dataclass
class SequenceResult:
    name: str
    points: int
    boxes: dict[str, int]  # labelled boxes per class over all frames


def sequence_rng(seed: int, index: int, frame: int | None = None) -> np.random.Generator:
    key = [seed, index] if frame is None else [seed, index, frame + 1]
    return np.random.default_rng(np.random.SeedSequence(key))


def sequence_name(rng: np.random.Generator, index: int) -> str:
    """A Waymo-like segment name, e.g. ``segment-4872619087214360391_0000_000_0020_000_with_camera_labels``."""
    return f"segment-{int(rng.integers(10**18, 9 * 10**18))}_{index:04d}_000_{index + 1:04d}_000_with_camera_labels"


class WaymoSequencer:
    """Makes and writes the sequences of one preset; holds the LiDAR's precomputed rays."""

    def __init__(self, preset: Preset | str):
        self.preset = get_preset(preset, "waymo") if isinstance(preset, str) else preset
        self.lidar = Lidar(self.preset.lidar)

    def make(self, root: Path, seed: int, index: int, frames: int) -> SequenceResult:
        rng = sequence_rng(seed, index)
        name = sequence_name(rng, index)
        scene = enlarge_cars(sample_scene(rng, self.preset.style_weights), rng)
        speed = 0.0 if rng.random() < STOPPED else float(rng.uniform(*EGO_SPEED))
        scene, motion = drop_colliding(scene, plan_motion(scene, frames, FRAME_INTERVAL, speed))
        zone = sample_no_label_zone(scene, rng)
        to_global = _global_frame(rng)
        ids, names = object_ids(len(scene.actors), rng), waymo_names(scene)
        start_time = int(rng.integers(1_500_000_000_000_000, 1_560_000_000_000_000))
        excluded = (zone.contains(scene.road, scene.actors.box[:, 0], scene.actors.box[:, 1]) if zone
                    else np.zeros(len(scene.actors), dtype=bool))
        height = self.preset.lidar.height
        observations, point_counts = [], []
        for k in range(frames):
            now = scene_at(scene, motion, k)
            rotation = motion.ego_pose[k, :3, :3]
            origin = motion.ego_pose[k, :3, 3] + rotation[:, 2] * height
            scan = self.lidar.scan(origin, rotation, now.ground, now.solids, len(now.actors),
                                   sequence_rng(seed, index, k))
            points = waymo_points(scan, origin, rotation, height, now, zone, sequence_rng(seed, index, k))
            waymo_writer.write_points(root, name, k, points)
            observations.append(observe(now, scan, points, origin, rotation, height))
            point_counts.append(len(points))
        labelled = labelled_in_sequence(observations, excluded)
        infos, counts = [], {}
        for k, observation in enumerate(observations):
            annos = frame_annotations(observation, labelled, names, ids, motion.velocity[k], motion.acceleration[k],
                                      motion.ego_pose[k, :3, :3], to_global[:2, :2])
            for label in annos["name"].tolist():
                counts[label] = counts.get(label, 0) + 1
            infos.append(_frame_dict(name, k, start_time, to_global @ motion.ego_pose[k], annos, point_counts[k]))
        waymo_writer.write_sequence_infos(root, name, infos)
        return SequenceResult(name=name, points=sum(point_counts), boxes=counts)


def waymo_points(scan: Scan, origin: np.ndarray, rotation: np.ndarray, height: float, scene,
                 zone: NoLabelZone | None, rng: np.random.Generator) -> np.ndarray:
    """(N, 6) float32 x, y, z (vehicle frame), intensity, elongation, NLZ flag of a scan."""
    xyz = scan.points[:, :3]
    distance = np.linalg.norm(xyz, axis=1)
    points = np.empty((len(xyz), 6), dtype=np.float32)
    points[:, :3] = xyz
    points[:, 2] += np.float32(height)
    points[:, 3] = np.arctanh(np.float32(0.995) * scan.points[:, 3])
    points[:, 4] = np.abs(rng.normal(0.0, 0.08, len(xyz))) + 0.002 * distance
    points[:, 5] = -1.0
    if zone is not None:
        world = origin + xyz.astype(np.float64) @ rotation.T
        points[zone.contains(scene.road, world[:, 0], world[:, 1]), 5] = 1.0
    return points


def _global_frame(rng: np.random.Generator) -> np.ndarray:
    """(4, 4) world -> global: a turn about z and a shift of kilometres, as Waymo's poses carry."""
    yaw = float(rng.uniform(-math.pi, math.pi))
    matrix = np.eye(4)
    matrix[:2, :2] = [[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]]
    matrix[:3, 3] = (*rng.uniform(-3000.0, 3000.0, 2), rng.uniform(-20.0, 120.0))
    return matrix


def _frame_dict(name: str, k: int, start_time: int, pose: np.ndarray, annos: dict, points: int) -> dict:
    return {
        "point_cloud": {"num_features": 5, "lidar_sequence": name, "sample_idx": k},
        "frame_id": f"{name}_{k:03d}",
        "metadata": {"context_name": name.removeprefix("segment-").removesuffix("_with_camera_labels"),
                     "timestamp_micros": start_time + 100_000 * k},
        "image": {f"image_shape_{j}": shape for j, shape in enumerate(CAMERA_SHAPES)},
        "pose": pose.astype(np.float32),
        "annos": annos,
        "num_points_of_each_lidar": [points, 0, 0, 0, 0],
    }


def generate_waymo(out: str | os.PathLike, sequences: int, frames_per_sequence: int, seed: int,
                   val_sequences: int = 0, preset: str = "waymo", overwrite: bool = False, workers: int = 1,
                   progress: bool = False) -> Summary:
    """Write ``sequences`` training and ``val_sequences`` validation sequences of ``frames_per_sequence``
    frames each to ``out`` in OpenPCDet's processed Waymo layout. ``workers`` > 1 makes sequences in parallel
    processes (same bytes either way)."""
    check_count(sequences, "--sequences", minimum=1)
    check_count(val_sequences, "--val-sequences", minimum=0)
    check_count(frames_per_sequence, "--frames-per-sequence", minimum=1)
    check_count(workers, "--workers", minimum=1)
    check_seed(seed)
    chosen = get_preset(preset, "waymo")
    root = waymo_writer.prepare_output(out, overwrite)
    total = sequences + val_sequences
    started = time.perf_counter()
    jobs = [(chosen.name, str(root), int(seed), index, frames_per_sequence) for index in range(total)]
    bar = progress_bar(total * frames_per_sequence, progress)
    results: list[SequenceResult] = []
    try:
        for result in run_jobs(_make_sequence, jobs, workers, lambda: WaymoSequencer(chosen)):
            results.append(result)
            if bar is not None:
                bar.update(frames_per_sequence)
    finally:
        if bar is not None:
            bar.close()
    for split, part in (("train", results[:sequences]), ("val", results[sequences:])):
        names = [r.name for r in part]
        # The frame dicts as read back from the sequence files: pickling them again gives the same bytes whichever
        # process made them (pickle's output depends on which objects are shared).
        waymo_writer.write_split(root, split, names, [f for name in names for f in waymo_writer.read_sequence_infos(
            root, name)])
    waymo_writer.write_manifest(root, {"generator": "ssal synth", "format": "waymo", "preset": chosen.name,
                                       "seed": int(seed), "train_sequences": sequences,
                                       "val_sequences": val_sequences, "frames_per_sequence": frames_per_sequence})
    counts: dict[str, int] = {}
    for result in results:
        for label, count in result.boxes.items():
            counts[label] = counts.get(label, 0) + count
    return Summary(frames=total * frames_per_sequence, points=sum(r.points for r in results),
                   boxes=dict(sorted(counts.items())), seconds=time.perf_counter() - started)


def _make_sequence(job: tuple[str, str, int, int, int], sequencer: WaymoSequencer | None = None) -> SequenceResult:
    preset, root, seed, index, frames = job
    return (sequencer or WaymoSequencer(preset)).make(Path(root), seed, index, frames)
