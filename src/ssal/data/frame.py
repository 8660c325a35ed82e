"""The records every part of ssal passes around: what is known about a frame (``FrameInfo``, no points) and a
loaded frame (``Frame``, with points).

Boxes are in the LiDAR frame, ``(x, y, z, dx, dy, dz, heading)``, centred. Class names are strings everywhere;
integer class ids (1-based) exist only inside the model and its outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from ssal.data.kitti_calib import Calibration
from ssal.data.kitti_label import KittiLabels


def _empty(shape, dtype):
    return field(default_factory=lambda: np.zeros(shape, dtype=dtype))


@dataclass
class Annotations:
    """The labelled objects of a frame (M of them), of any class except DontCare."""

    name: np.ndarray = _empty(0, "<U16")
    gt_boxes_lidar: np.ndarray = _empty((0, 7), np.float32)
    difficulty: np.ndarray = _empty(0, np.int32)  # KITTI: 0 Easy, 1 Moderate, 2 Hard, -1 none; Waymo: level 1/2
    num_points_in_gt: np.ndarray = _empty(0, np.int32)  # points inside each box (KITTI: of the FOV crop)

    def __len__(self) -> int:
        return len(self.name)

    def select(self, mask: np.ndarray):
        """The objects where ``mask`` (bool or indices) holds, as the same annotation type."""
        return replace(self, **{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    def count(self, classes) -> int:
        """How many objects belong to ``classes`` (the annotation cost of a frame in boxes)."""
        return int(np.isin(self.name, list(classes)).sum())


@dataclass
class KittiAnnotations(Annotations):
    """KITTI objects: the label-file columns (camera frame) beside the LiDAR boxes, row for row."""

    truncated: np.ndarray = _empty(0, np.float64)
    occluded: np.ndarray = _empty(0, np.int64)
    alpha: np.ndarray = _empty(0, np.float64)
    bbox: np.ndarray = _empty((0, 4), np.float64)
    dimensions: np.ndarray = _empty((0, 3), np.float64)  # l, h, w
    location: np.ndarray = _empty((0, 3), np.float64)  # bottom centre, rectified camera frame
    rotation_y: np.ndarray = _empty(0, np.float64)

    def kitti_labels(self) -> KittiLabels:
        """The rows as KITTI labels (for evaluation and writing label files)."""
        return KittiLabels(name=self.name, truncated=self.truncated, occluded=self.occluded, alpha=self.alpha,
                           bbox=self.bbox, dimensions=self.dimensions, location=self.location,
                           rotation_y=self.rotation_y)


@dataclass
class WaymoAnnotations(Annotations):
    """Waymo objects as OpenPCDet's processed infos hold them, row for row. ``difficulty`` is the evaluation level:
    2 (LEVEL_2) for objects labelled so or holding <= 5 LiDAR points, else 1 (LEVEL_1); ``num_points_in_gt``
    counts the points of all five LiDARs, as Waymo's labels do."""

    obj_ids: np.ndarray = _empty(0, "<U32")  # the object's id, the same in every frame of its sequence
    tracking_difficulty: np.ndarray = _empty(0, np.int8)  # Waymo's tracking_difficulty_level (0 unknown, 1, 2)
    speed_global: np.ndarray = _empty((0, 2), np.float32)  # m/s, x and y of the global (world) frame
    accel_global: np.ndarray = _empty((0, 2), np.float32)  # m/s^2, same frame


@dataclass
class FrameInfo:
    """Everything known about one frame except its points."""

    frame_id: str
    dataset: str  # "kitti" | "waymo"
    points_path: str  # relative to the dataset root
    num_point_features: int = 4
    image_shape: tuple[int, int] | None = None  # (height, width) of the camera image
    calib: Calibration | None = None
    plane: np.ndarray | None = None  # road plane (4,) in the rectified camera frame, KITTI ``planes/``
    annos: Annotations | None = None  # None: frame without labels (test split)
    dontcare: KittiLabels | None = None  # KITTI DontCare regions, kept apart from the objects
    extra: dict = field(default_factory=dict)  # dataset-specific (Waymo: sequence, pose, timestamp)

    def ground_plane_lidar(self) -> np.ndarray | None:
        """The road plane as ``(a, b, c, d)`` in the LiDAR frame (unit normal pointing up), or None."""
        if self.plane is None or self.calib is None:
            return None
        matrix = np.eye(4)
        matrix[:3, :4] = self.calib.Tr_velo_to_cam
        rect = np.eye(4)
        rect[:3, :3] = self.calib.R0_rect
        to_rect = rect @ matrix  # p_rect = A p_lidar + t
        normal = to_rect[:3, :3].T @ self.plane[:3]
        offset = self.plane[:3] @ to_rect[:3, 3] + self.plane[3]
        plane = np.append(normal, offset) / np.linalg.norm(normal)
        return -plane if plane[2] < 0 else plane


@dataclass
class Frame:
    """A frame with its points (N, num_point_features) float32: x, y, z, intensity, ..."""

    info: FrameInfo
    points: np.ndarray

    @property
    def frame_id(self) -> str:
        return self.info.frame_id
