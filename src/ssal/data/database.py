"""Object banks for copy-paste augmentation: the points of every labelled object, stored box-centred.

The bank is built **only from the frames the run may see labelled**: a bank built from all labels silently
leaks them into a low-label run and inflates its results (a known trap in this field, see 3DIoUMatch's note).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ssal.data.frame import FrameInfo
from ssal.geometry import points_in_boxes_index


@dataclass
class ObjectSample:
    """One object: its box, and its points with the box centre subtracted (not de-rotated)."""

    name: str
    box: np.ndarray  # (7,) LiDAR frame, as in its source frame
    points: np.ndarray  # (K, F) float32, xyz relative to the box centre
    difficulty: int
    frame_id: str
    score: float = 1.0  # 1 for ground truth; the detection score for pseudo objects

    @property
    def num_points(self) -> int:
        return len(self.points)


@dataclass
class ObjectDatabase:
    """Objects per class."""

    objects: dict[str, list[ObjectSample]] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(v) for v in self.objects.values())

    def add(self, sample: ObjectSample) -> None:
        self.objects.setdefault(sample.name, []).append(sample)

    def filtered(self, min_points: dict[str, int], drop_unknown_difficulty: bool = True) -> "ObjectDatabase":
        """Only objects with at least ``min_points[name]`` points (classes not named are dropped) and, by
        default, a known difficulty (KITTI's -1 marks objects too small, occluded or truncated to rate)."""
        kept = ObjectDatabase()
        for name, samples in self.objects.items():
            if name not in min_points:
                continue
            for sample in samples:
                if sample.num_points >= min_points[name] and not (drop_unknown_difficulty and sample.difficulty < 0):
                    kept.add(sample)
        return kept

    def counts(self) -> dict[str, int]:
        return {name: len(samples) for name, samples in self.objects.items()}


def build_object_database(frames, classes) -> ObjectDatabase:
    """Bank the objects of ``classes`` in ``frames`` (an iterable of ``Frame``, e.g. the labelled set)."""
    database = ObjectDatabase()
    for frame in frames:
        annos = frame.info.annos
        if annos is None or len(annos) == 0:
            continue
        owner = points_in_boxes_index(torch.from_numpy(frame.points[:, :3]),
                                      torch.from_numpy(annos.gt_boxes_lidar.astype(np.float32))).numpy()
        for index in np.flatnonzero(np.isin(annos.name, list(classes))):
            box = annos.gt_boxes_lidar[index].astype(np.float32)
            points = frame.points[owner == index].copy()
            points[:, :3] -= box[:3]
            database.add(ObjectSample(name=str(annos.name[index]), box=box, points=points,
                                      difficulty=int(annos.difficulty[index]), frame_id=frame.frame_id))
    return database


def frame_ground(info: FrameInfo, points: np.ndarray) -> np.ndarray | None:
    """The frame's ground plane in the LiDAR frame: its plane file if any, else estimated from its points."""
    from ssal.data.ground import estimate_ground_plane

    plane = info.ground_plane_lidar()
    return plane if plane is not None else estimate_ground_plane(points)
