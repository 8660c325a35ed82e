"""Training augmentation: copy-paste of banked objects, then world flip, rotation and scaling.

Every function takes the points (N, F), the boxes (M, 7), the names (M,) and a ``numpy.random.Generator``, so
the same (seed, epoch, item) always gives the same sample, whatever the number of loader workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ssal.data.database import ObjectDatabase
from ssal.data.ground import ground_height
from ssal.errors import SsalError
from ssal.geometry import boxes_iou_bev, points_in_boxes


@dataclass
class AugmentConfig:
    copy_paste: bool = True  # paste banked objects of the labelled frames into the scene
    sample_groups: dict[str, int] = field(default_factory=lambda: {"Car": 15, "Pedestrian": 10, "Cyclist": 10})
    min_points: dict[str, int] = field(default_factory=lambda: {"Car": 5, "Pedestrian": 5, "Cyclist": 5})
    use_ground: bool = True  # set pasted objects on the frame's road plane (estimated when there is no file)
    flip_x: bool = True  # mirror y -> -y (KITTI); Waymo also flips x
    flip_y: bool = False
    rotation: tuple[float, float] = (-math.pi / 4, math.pi / 4)  # world rotation about z, radians
    scaling: tuple[float, float] = (0.95, 1.05)

    def validate(self) -> None:
        if self.rotation[0] > self.rotation[1] or self.scaling[0] > self.scaling[1] or self.scaling[0] <= 0:
            raise SsalError("ranges must be (low, high) with low <= high and positive scaling", "rotation/scaling")
        for name, count in self.sample_groups.items():
            if count < 0:
                raise SsalError(f"sample_groups.{name} is negative", "sample_groups")


def paste_objects(points, boxes, names, database: ObjectDatabase, groups: dict[str, int], rng,
                  ground: np.ndarray | None = None):
    """Paste up to ``groups[c]`` objects of class c from ``database`` where they were recorded (their own pose),
    skipping any that overlaps (BEV IoU > 0) a box already in the scene or another pasted one, optionally set on
    the ``ground`` plane; scene points inside pasted boxes are removed. Returns new (points, boxes, names)."""
    existing = boxes
    chosen: list = []
    for name, count in groups.items():
        pool = database.objects.get(name, [])
        if count <= 0 or not pool:
            continue
        picks = [pool[i] for i in rng.choice(len(pool), size=min(count, len(pool)), replace=False)]
        candidates = np.stack([sample.box for sample in picks]).astype(np.float32)
        keep = _non_overlapping(candidates, existing)
        chosen += [sample for sample, ok in zip(picks, keep) if ok]
        existing = np.concatenate((existing, candidates[keep]))
    if not chosen:
        return points, boxes, names
    new_boxes = np.stack([sample.box for sample in chosen]).astype(np.float32)
    if ground is not None:
        new_boxes[:, 2] = ground_height(ground, new_boxes[:, :2].astype(np.float64)) + new_boxes[:, 5] / 2
    inside = points_in_boxes(torch.from_numpy(points[:, :3]), torch.from_numpy(new_boxes)).any(dim=1).numpy()
    pasted = []
    for sample, box in zip(chosen, new_boxes):
        object_points = sample.points[:, : points.shape[1]].copy()
        object_points[:, :3] += box[:3]  # box-centred points follow the (possibly lowered) box
        pasted.append(object_points)
    points = np.concatenate([points[~inside]] + pasted)
    names = np.concatenate((names, np.array([sample.name for sample in chosen], dtype=names.dtype)))
    return points, np.concatenate((boxes, new_boxes)), names


def _non_overlapping(candidates: np.ndarray, existing: np.ndarray) -> np.ndarray:
    """Candidates that overlap neither an existing box nor another candidate (both of a pair are dropped)."""
    cand = torch.from_numpy(candidates)
    among = boxes_iou_bev(cand, cand)
    among.fill_diagonal_(0)
    clash = among.max(dim=1).values > 0
    if len(existing):
        clash |= boxes_iou_bev(cand, torch.from_numpy(existing.astype(np.float32))).max(dim=1).values > 0
    return (~clash).numpy()


def random_flip(points, boxes, rng, along_x: bool = True, along_y: bool = False):
    """Mirror the world: ``along_x`` negates y (a left-right flip), ``along_y`` negates x; each with p = 0.5."""
    points, boxes = points.copy(), boxes.copy()
    if along_x and rng.random() < 0.5:
        points[:, 1] = -points[:, 1]
        boxes[:, 1] = -boxes[:, 1]
        boxes[:, 6] = -boxes[:, 6]
    if along_y and rng.random() < 0.5:
        points[:, 0] = -points[:, 0]
        boxes[:, 0] = -boxes[:, 0]
        boxes[:, 6] = -(boxes[:, 6] + np.pi)
    return points, boxes


def random_rotation(points, boxes, rng, limits: tuple[float, float]):
    """Rotate the world about z by an angle drawn uniformly from ``limits``."""
    angle = rng.uniform(*limits)
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]], dtype=np.float32)
    points, boxes = points.copy(), boxes.copy()
    points[:, :2] = points[:, :2] @ rotation.T
    boxes[:, :2] = boxes[:, :2] @ rotation.T
    boxes[:, 6] += angle
    return points, boxes


def random_scaling(points, boxes, rng, limits: tuple[float, float]):
    """Scale the world (positions and sizes) by a factor drawn uniformly from ``limits``."""
    factor = rng.uniform(*limits)
    points, boxes = points.copy(), boxes.copy()
    points[:, :3] *= factor
    boxes[:, :6] *= factor
    return points, boxes


def augment_scene(points, boxes, names, rng, config: AugmentConfig, database: ObjectDatabase | None = None,
                  ground: np.ndarray | None = None):
    """The full training augmentation of one scene, in OpenPCDet's order."""
    if config.copy_paste and database is not None and len(database):
        points, boxes, names = paste_objects(points, boxes, names, database, config.sample_groups, rng,
                                             ground if config.use_ground else None)
    points, boxes = random_flip(points, boxes, rng, config.flip_x, config.flip_y)
    points, boxes = random_rotation(points, boxes, rng, config.rotation)
    points, boxes = random_scaling(points, boxes, rng, config.scaling)
    return points, boxes, names
