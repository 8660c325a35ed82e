"""Generate a synthetic KITTI-layout dataset: drives -> scans -> labels -> files.

The world is made of drives, as KITTI's object frames were taken from drives: a drive is one scene in which the
ego car moves on (or waits) and the actors move and keep their identity; ``frames_per_drive`` frames of it,
``FRAME_GAP`` seconds apart, go into the dataset, so that neighbouring frames overlap and a pool holds
near-duplicates. The train split is made of train drives and the val split of val drives: never one drive in
both. A drive may stage a rare situation (``scene.SITUATIONS``) and every frame and object carries tags, written
to the sidecar file ``synth_tags.json`` (``ssal.data.synthetic.tags``).

Drive d of a split draws everything from ``SeedSequence([seed, split code, d])`` and frame k of it its sensor
noise and label noise from ``SeedSequence([seed, split code, d, k + 1])``: a drive is the same whatever order or
number of processes made it, the same seed writes the same bytes, and the val drives do not depend on how many
training frames were asked for.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ssal.data.kitti_calib import Calibration
from ssal.data.synthetic import kitti_writer
from ssal.data.synthetic.calibration import kitti_calibration
from ssal.data.synthetic.image import depth_image, encode_png
from ssal.data.synthetic.jobs import check_count, check_seed, progress_bar, run_jobs
from ssal.data.synthetic.label_noise import KITTI_LIKE
from ssal.data.synthetic.labels import FrameLabels, kitti_labels
from ssal.data.synthetic.presets import Preset, get_preset
from ssal.data.synthetic.scene import FRONT, Scene, sample_scene, sample_situations
from ssal.data.synthetic.sensor import Lidar, Scan
from ssal.data.synthetic.sequence import drop_colliding, plan_motion, scene_at
from ssal.data.synthetic.tags import frame_tags, tag_counts, write_tags
from ssal.data.synthetic.weather import rain

SPLIT_CODES = {"train": 0, "val": 1}
FRAME_GAP = (0.4, 1.2)  # seconds between a drive's dataset frames (KITTI's raw recordings run at 10 Hz)
STOPPED = 0.15  # share of drives in which the ego car waits (at a light, in a jam)
EGO_SPEED = (3.0, 12.0)  # m/s otherwise
MAX_TRAVEL = 80.0  # metres the ego car covers in one drive at most (the road is built that much longer)


@dataclass(frozen=True)
class Drive:
    """``frames`` consecutive dataset frames, from frame index ``first`` on, of drive ``number`` of ``split``."""

    split: str
    number: int
    first: int
    frames: int

    @property
    def name(self) -> str:
        return f"{self.split}-{self.number:04d}"


def plan_drives(frames: int, val_frames: int, per_drive: int) -> list[Drive]:
    """Train drives (frame indices 0 .. frames-1), then val drives; every drive but a split's last is full."""
    drives, first = [], 0
    for split, count in (("train", frames), ("val", val_frames)):
        for number, start in enumerate(range(0, count, per_drive)):
            drives.append(Drive(split, number, first + start, min(per_drive, count - start)))
        first += count
    return drives


def drive_seed(seed: int, drive: Drive, frame: int | None = None) -> np.random.SeedSequence:
    key = [seed, SPLIT_CODES[drive.split], drive.number]
    return np.random.SeedSequence(key if frame is None else key + [frame + 1])


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
    tags: dict = field(default_factory=dict)  # the frame's entry of synth_tags.json


class Synthesizer:
    """Makes frames of one preset; holds what is worth computing once (the LiDAR's rays, the calibration)."""

    def __init__(self, preset: Preset | str, label_noise: bool = True):
        self.preset = get_preset(preset) if isinstance(preset, str) else preset
        self.lidar = Lidar(self.preset.lidar)
        self.calib = kitti_calibration()
        self.noise = KITTI_LIKE if label_noise else None

    def drive(self, seed: int, drive: Drive):
        """The frames of ``drive`` (a generator, frame by frame)."""
        rng = np.random.default_rng(drive_seed(seed, drive))
        situations = sample_situations(rng, self.preset.situations)
        speed = 0.0 if rng.random() < STOPPED else float(rng.uniform(*EGO_SPEED))
        gap = float(rng.uniform(*FRAME_GAP))
        if speed * gap * (drive.frames - 1) > MAX_TRAVEL:
            gap = MAX_TRAVEL / (speed * (drive.frames - 1))
        travel = speed * gap * max(drive.frames - 1, 0)
        scene = sample_scene(rng, self.preset.style_weights, front=FRONT + travel, situations=situations)
        scene, motion = drop_colliding(scene, plan_motion(scene, drive.frames, gap, speed))
        for k in range(drive.frames):
            scan_rng, noise_rng = (np.random.default_rng(s) for s in drive_seed(seed, drive, k).spawn(2))
            yield self._frame(scene_at(scene, motion, k), drive, k, situations, scan_rng, noise_rng)

    def _frame(self, scene: Scene, drive: Drive, k: int, situations: tuple[str, ...], rng: np.random.Generator,
               noise_rng: np.random.Generator) -> SyntheticFrame:
        rotation = scene.ego_pose[:3, :3]
        origin = scene.ego_pose[:3, 3] + rotation[:, 2] * self.preset.lidar.height
        scan = self.lidar.scan(origin, rotation, scene.ground, scene.solids, len(scene.actors), rng)
        if "rain" in situations:
            scan = rain(scan, self.lidar.directions32, rng)
        labels = kitti_labels(scene, scan, origin, rotation, self.calib, self.preset.image_shape, rng,
                              noise=self.noise, noise_rng=noise_rng)
        plane = road_plane(scene, origin, rotation, self.calib)
        image = depth_image(scan.points, self.calib, self.preset.image_shape)
        tags = frame_tags(scene, labels, drive.name, drive.split, k, situations)
        return SyntheticFrame(frame_id(drive.first + k), scene, scan, labels, self.calib, plane, image, tags)


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
    tags: dict[str, tuple[int, int]] = field(default_factory=dict)  # per tag: frames, objects carrying it

    @property
    def frames_per_second(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def generate(out: str | os.PathLike, frames: int, seed: int, val_frames: int = 0, preset: str = "kitti",
             overwrite: bool = False, workers: int = 1, progress: bool = False, label_noise: bool = True) -> Summary:
    """Write ``frames`` training frames and ``val_frames`` validation frames (ids after the training ones), from
    separate drives, to ``out`` in the KITTI layout, with the tags file. ``workers`` > 1 spreads drives over
    processes (same bytes either way); ``label_noise`` False writes exact labels."""
    check_count(frames, "--frames", minimum=1)
    check_count(val_frames, "--val-frames", minimum=0)
    check_count(workers, "--workers", minimum=1)
    check_seed(seed)
    chosen = get_preset(preset, "kitti")
    root = kitti_writer.prepare_output(out, overwrite)
    total = frames + val_frames
    started = time.perf_counter()
    drives = plan_drives(frames, val_frames, chosen.frames_per_drive)
    jobs = [(chosen.name, str(root), int(seed), drive, bool(label_noise)) for drive in drives]
    counts: dict[str, int] = {}
    points = 0
    tags: dict[str, dict] = {}
    bar = progress_bar(total, progress)
    try:
        for drive_points, drive_counts, drive_tags in run_jobs(_make_drive, jobs, workers,
                                                               lambda: Synthesizer(chosen, label_noise)):
            points += drive_points
            tags.update(drive_tags)
            for name, count in drive_counts.items():
                counts[name] = counts.get(name, 0) + count
            if bar is not None:
                bar.update(len(drive_tags))
    finally:
        if bar is not None:
            bar.close()
    ids = [frame_id(i) for i in range(total)]
    kitti_writer.write_image_sets(root, ids[:frames], ids[frames:])
    write_tags(root, tags)
    kitti_writer.write_manifest(root, {"generator": "ssal synth", "preset": chosen.name, "seed": int(seed),
                                       "train_frames": frames, "val_frames": val_frames,
                                       "frames_per_drive": chosen.frames_per_drive,
                                       "train_drives": sum(d.split == "train" for d in drives),
                                       "val_drives": sum(d.split == "val" for d in drives),
                                       "label_noise": bool(label_noise)})
    return Summary(frames=total, points=points, boxes=dict(sorted(counts.items())),
                   seconds=time.perf_counter() - started, tags=tag_counts(tags))


def _make_drive(job: tuple[str, str, int, Drive, bool], synthesizer: Synthesizer | None = None
                ) -> tuple[int, dict[str, int], dict[str, dict]]:
    """Make and write a drive's frames (a worker's task): points written, labelled objects per class, tags."""
    preset, root, seed, drive, label_noise = job
    synthesizer = synthesizer or Synthesizer(preset, label_noise)
    points, counts, tags = 0, {}, {}
    for frame in synthesizer.drive(seed, drive):
        write(Path(root), frame)
        points += len(frame.scan.points)
        tags[frame.frame_id] = frame.tags
        for name in frame.labels.labels.name:
            if name != "DontCare":
                counts[str(name)] = counts.get(str(name), 0) + 1
    return points, counts, tags
