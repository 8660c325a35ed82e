"""Small hand-made worlds for the CPSP tests: frames of flat ground with point clusters where boxes are, a reader
over them, and predictions as ``PoolOutputs`` (no model needed)."""

from __future__ import annotations

import numpy as np

from ssal.active.outputs import PoolOutputs
from ssal.data.frame import Annotations, FrameInfo

CLASSES = ["Car", "Pedestrian", "Cyclist"]
GROUND_Z = -1.7
SIZES = {"Car": (3.9, 1.6, 1.5), "Van": (5.0, 2.0, 2.2), "Pedestrian": (0.8, 0.6, 1.7), "Cyclist": (1.8, 0.6, 1.7)}


def box(x: float, y: float, cls: str = "Car", heading: float = 0.0, lift: float = 0.0) -> np.ndarray:
    dx, dy, dz = SIZES[cls]
    return np.array([x, y, GROUND_Z + dz / 2 + lift, dx, dy, dz, heading], dtype=np.float32)


def ground(rng: np.random.Generator, n: int = 3000) -> np.ndarray:
    xy = rng.uniform([0, -20], [40, 20], size=(n, 2))
    return np.column_stack((xy, np.full(n, GROUND_Z), rng.uniform(0, 1, n))).astype(np.float32)


def cluster(b: np.ndarray, rng: np.random.Generator, n: int = 40) -> np.ndarray:
    """``n`` points inside box ``b`` (strictly inside, rotated with it)."""
    local = rng.uniform(-0.45, 0.45, size=(n, 3)) * b[3:6]
    cos, sin = np.cos(b[6]), np.sin(b[6])
    xy = local[:, :2] @ np.array([[cos, sin], [-sin, cos]])
    return np.column_stack((xy + b[:2], local[:, 2] + b[2], rng.uniform(0, 1, n))).astype(np.float32)


class FakeReader:
    """``load_points`` over frames held in memory."""

    def __init__(self, points: dict[str, np.ndarray]):
        self.points = points
        self.loads: list[str] = []

    def load_points(self, info: FrameInfo) -> np.ndarray:
        self.loads.append(info.frame_id)
        return self.points[info.frame_id].copy()


def frame(frame_id: str, boxes: list[np.ndarray], names: list[str], rng: np.random.Generator,
          points_per_box: int = 40) -> tuple[FrameInfo, np.ndarray]:
    """A labelled frame: ground plus a cluster in every box."""
    stacked = np.stack(boxes).astype(np.float32) if boxes else np.zeros((0, 7), np.float32)
    points = np.concatenate([ground(rng)] + [cluster(b, rng, points_per_box) for b in stacked])
    annos = Annotations(name=np.array(names, dtype="<U16"), gt_boxes_lidar=stacked,
                        difficulty=np.zeros(len(names), np.int32),
                        num_points_in_gt=np.full(len(names), points_per_box, np.int32))
    return FrameInfo(frame_id, "kitti", points_path="", annos=annos), points


def predictions(frames: list[tuple[str, np.ndarray, np.ndarray, list[str]]]) -> PoolOutputs:
    """``PoolOutputs`` from (frame id, boxes (K, 7), scores (K,), class names) per frame."""
    rows = []
    for frame_id, boxes, scores, names in frames:
        k = len(scores)
        rows.append((frame_id, {"boxes": np.asarray(boxes, np.float32).reshape(k, 7),
                                "scores": np.asarray(scores, np.float32),
                                "labels": np.array([CLASSES.index(n) + 1 for n in names], np.int16),
                                "cls_probs": np.zeros((k, 3), np.float32),
                                "roi_features": np.zeros((k, 4), np.float16)}))
    return PoolOutputs.from_frames(CLASSES, rows)
