"""Detections as KITTI result files (``<frame>.txt``, 16 columns with the score), the format of the official
devkit and of OpenPCDet's ``--save_to_file``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ssal.atomic import atomic_write_text
from ssal.data.frame import FrameInfo
from ssal.data.kitti_label import KittiLabels, format_label_lines


def detections_to_kitti(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                        info: FrameInfo) -> KittiLabels:
    """LiDAR boxes (K, 7), scores (K,) and 1-based labels (K,) of one frame as KITTI result rows: camera boxes,
    2-D boxes projected into (and clipped to) the image, and alpha from the viewing angle."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    camera = info.calib.boxes_lidar_to_camera(boxes)
    bbox = info.calib.boxes_lidar_to_image(boxes, info.image_shape)
    alpha = -np.arctan2(-boxes[:, 1], boxes[:, 0]) + camera[:, 6]
    return KittiLabels(
        name=np.array([class_names[int(c) - 1] for c in labels], dtype="<U16"),
        truncated=np.zeros(len(boxes)), occluded=np.zeros(len(boxes), dtype=np.int64), alpha=alpha, bbox=bbox,
        dimensions=camera[:, 3:6], location=camera[:, 0:3], rotation_y=camera[:, 6],
        score=np.asarray(scores, dtype=np.float64).reshape(-1),
    )


def write_kitti_results(folder: str | os.PathLike, frame_id: str, detections: KittiLabels) -> Path:
    """Write one frame's result file (an empty file for no detections, as the devkit expects)."""
    path = Path(folder) / f"{frame_id}.txt"
    atomic_write_text(path, format_label_lines(detections))
    return path


def ground_truth_labels(info: FrameInfo) -> KittiLabels:
    """A frame's label rows as the evaluator reads them: its objects, then its DontCare regions."""
    objects = info.annos.kitti_labels()
    if info.dontcare is None or len(info.dontcare) == 0:
        return objects
    parts = (objects, info.dontcare)
    return KittiLabels(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in
                          ("name", "truncated", "occluded", "alpha", "bbox", "dimensions", "location", "rotation_y")})
