"""Generate a synthetic KITTI-layout dataset: scene -> scan -> labels -> files, frame by frame.

Every frame draws from its own generator, seeded by ``(seed, frame index)`` through ``numpy.random.SeedSequence``,
so a frame is the same whatever order, chunking or number of worker processes made it: the same seed writes
byte-identical files.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssal.data.kitti_calib import Calibration
from ssal.data.synthetic import kitti_writer
from ssal.data.synthetic.calibration import kitti_calibration
from ssal.data.synthetic.image import depth_image, encode_png
from ssal.data.synthetic.jobs import check_count, check_seed, progress_bar, run_jobs
from ssal.data.synthetic.labels import FrameLabels, kitti_labels
from ssal.data.synthetic.presets import Preset, get_preset
from ssal.data.synthetic.scene import Scene, sample_scene
from ssal.data.synthetic.sensor import Lidar, Scan


def frame_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of frame ``index`` of a dataset made with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def frame_id(index: int) -> str:
    return f"{index:06d}"


@dataclass
class SyntheticFrame:
    frame_id: str
    scene: Scene
    scan: Scan
    labels: FrameLabels
    calib: Calibration
    plane: np.ndarray  # (4,) road plane, rectified camera frame, KITTI's planes/ convention
    image: np.ndarray  # (H, W) uint8


class Synthesizer:
    """Makes frames of one preset; holds what is worth computing once (the LiDAR's rays, the calibration)."""

    def __init__(self, preset: Preset | str):
        self.preset = get_preset(preset) if isinstance(preset, str) else preset
        self.lidar = Lidar(self.preset.lidar)
        self.calib = kitti_calibration()

    def frame(self, seed: int, index: int) -> SyntheticFrame:
        rng = frame_rng(seed, index)
        scene = sample_scene(rng, self.preset.style_weights)
        rotation = scene.ego_pose[:3, :3]
        origin = scene.ego_pose[:3, 3] + rotation[:, 2] * self.preset.lidar.height
        scan = self.lidar.scan(origin, rotation, scene.ground, scene.solids, len(scene.actors), rng)
        labels = kitti_labels(scene, scan, origin, rotation, self.calib, self.preset.image_shape, rng)
        plane = road_plane(scene, origin, rotation, self.calib)
        image = depth_image(scan.points, self.calib, self.preset.image_shape)
        return SyntheticFrame(frame_id(index), scene, scan, labels, self.calib, plane, image)


def road_plane(scene: Scene, origin: np.ndarray, rotation: np.ndarray, calib: Calibration) -> np.ndarray:
    """The road plane ``(a, b, c, d)`` in the rectified camera frame (normal up, i.e. negative y), fitted to the
    ground of the ego lane ahead as KITTI's planes were fitted to road points."""
    a, b, c = scene.ground.fit_plane((0.0, 40.0, -2.5, 2.5))
    normal_world = np.array([-a, -b, 1.0]) / math.sqrt(a * a + b * b + 1.0)
    normal_sensor = rotation.T @ normal_world
    point_sensor = rotation.T @ (np.array([0.0, 0.0, c]) - origin)
    to_camera = calib.R0_rect @ calib.Tr_velo_to_cam[:, :3]
    normal = to_camera @ normal_sensor
    point = calib.lidar_to_camera(point_sensor[None])[0]
    plane = np.append(normal, -normal @ point)
    return -plane if plane[1] > 0 else plane


def write(root: Path, frame: SyntheticFrame) -> None:
    kitti_writer.write_frame(root, frame.frame_id, frame.scan.points, frame.labels.labels, frame.calib,
                             frame.plane, encode_png(frame.image))


@dataclass
class Summary:
    frames: int
    points: int  # all points written
    boxes: dict[str, int]  # labelled objects per class (DontCare apart)
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def generate(out: str | os.PathLike, frames: int, seed: int, val_frames: int = 0, preset: str = "kitti",
             overwrite: bool = False, workers: int = 1, progress: bool = False) -> Summary:
    """Write ``frames`` training frames and ``val_frames`` validation frames (ids after the training ones) to
    ``out`` in the KITTI layout. ``workers`` > 1 spreads frames over processes (same bytes either way)."""
    check_count(frames, "--frames", minimum=1)
    check_count(val_frames, "--val-frames", minimum=0)
    check_count(workers, "--workers", minimum=1)
    check_seed(seed)
    chosen = get_preset(preset, "kitti")
    root = kitti_writer.prepare_output(out, overwrite)
    total = frames + val_frames
    started = time.perf_counter()
    chunks = [list(range(start, min(start + 8, total))) for start in range(0, total, 8)]
    jobs = [(chosen.name, str(root), int(seed), chunk) for chunk in chunks]
    counts: dict[str, int] = {}
    points = 0
    bar = progress_bar(total, progress)
    try:
        for chunk_points, chunk_counts, made in run_jobs(_make_chunk, jobs, workers, lambda: Synthesizer(chosen)):
            points += chunk_points
            for name, count in chunk_counts.items():
                counts[name] = counts.get(name, 0) + count
            if bar is not None:
                bar.update(made)
    finally:
        if bar is not None:
            bar.close()
    ids = [frame_id(i) for i in range(total)]
    kitti_writer.write_image_sets(root, ids[:frames], ids[frames:])
    kitti_writer.write_manifest(root, {"generator": "ssal synth", "preset": chosen.name, "seed": int(seed),
                                       "train_frames": frames, "val_frames": val_frames})
    return Summary(frames=total, points=points, boxes=dict(sorted(counts.items())),
                   seconds=time.perf_counter() - started)


def _make_chunk(job: tuple[str, str, int, list[int]], synthesizer: Synthesizer | None = None
                ) -> tuple[int, dict[str, int], int]:
    """Make and write frames (a worker's task): points written, labelled objects per class, frames made."""
    preset, root, seed, indices = job
    synthesizer = synthesizer or Synthesizer(preset)
    points, counts = 0, {}
    for index in indices:
        frame = synthesizer.frame(seed, index)
        write(Path(root), frame)
        points += len(frame.scan.points)
        for name in frame.labels.labels.name:
            if name != "DontCare":
                counts[str(name)] = counts.get(str(name), 0) + 1
    return points, counts, len(indices)
