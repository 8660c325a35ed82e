"""KITTI labels for a scanned synthetic scene, as KITTI's annotators would have written them.

Only objects seen in the camera image are labelled. For each actor:

- 3-D box: the actor's tight box, moved into the sensor frame, then to KITTI's camera format with
  ``Calibration.boxes_lidar_to_camera``; ``alpha = rotation_y - atan2(x, z)`` (the observation angle).
- 2-D box: the projection of the actor's solids (their box corners, cut at a near plane 0.1 m in front of the
  camera so that objects reaching behind it project correctly), clipped to the image.
- truncation: the share of the unclipped 2-D box's area outside the image.
- occlusion: from the share ``f`` of the rays that would meet the actor with nothing in the way but meet something
  else first (another actor, clutter, the ground): 0 (fully visible) for f < 0.15, 1 (partly occluded) for
  f < 0.5, 2 (largely occluded) for f < 0.92; above that the annotator sees too little to label it (a glimpse,
  f < 0.98, becomes a DontCare region; less, nothing).
  3 (unknown) where there is too little to judge: fewer than 4 such rays, or truncation of 0.7 and more (KITTI's
  annotators used 3 mostly for objects cut by the image border).
- far or tiny objects (beyond a per-frame labelling distance of 50-80 m, or under 10-18 px tall) become
  ``DontCare`` regions, as KITTI marks regions with objects it did not label.
- with label noise (``ssal.data.synthetic.label_noise``), the written 3-D boxes are jittered as an annotator's
  would be and some far, heavily occluded objects get no label; 2-D boxes, truncation and occlusion stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssal.data.kitti_calib import Calibration
from ssal.data.kitti_label import KittiLabels
from ssal.data.synthetic.label_noise import LabelNoise
from ssal.data.synthetic.scene import Scene
from ssal.data.synthetic.sensor import Scan
from ssal.data.synthetic.solids import transform

NEAR_PLANE = 0.1
OCCLUSION_LEVELS = (0.15, 0.5, 0.92)  # upper bounds of the blocked share for levels 0, 1, 2
MIN_RAYS = 4
UNKNOWN_TRUNCATION = 0.7
MAX_TRUNCATION = 0.95
HIDDEN = 0.98  # objects this hidden are not even a DontCare region
_EDGES = np.array([(a, b) for a in range(8) for b in range(a + 1, 8) if (a ^ b).bit_count() == 1])


@dataclass
class FrameLabels:
    """The label file's rows (objects, then DontCare) and, row for row, facts the file does not hold."""

    labels: KittiLabels
    actor: np.ndarray  # (M,) actor index of each row
    boxes_lidar: np.ndarray  # (M, 7) sensor-frame boxes (DontCare rows too)
    blocked: np.ndarray  # (M,) share of the actor's rays blocked by nearer things
    points: np.ndarray  # (M,) points of the scan that came from the actor


def sensor_boxes(scene: Scene, origin: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Actor boxes (A, 7) in the sensor frame (``rotation``: sensor -> world)."""
    box = scene.actors.box
    centre = transform(box[:, :3] - origin, rotation.T)
    yaw = box[:, 6] - np.arctan2(rotation[1, 0], rotation[0, 0])
    return np.concatenate((centre, box[:, 3:6], _wrap(yaw)[:, None]), axis=1)


def image_boxes(scene: Scene, origin: np.ndarray, rotation: np.ndarray, calib: Calibration
                ) -> tuple[np.ndarray, np.ndarray]:
    """Unclipped 2-D boxes (A, 4) of the actors' solids, and which actors reach in front of the camera (A,)."""
    count = len(scene.actors)
    owned = np.flatnonzero(scene.solids.owner >= 0)
    corners = scene.solids.corners()[owned]  # (S, 8, 3) world
    sensor = transform(corners - origin, rotation.T).reshape(-1, 3)
    camera = calib.lidar_to_camera(sensor).reshape(-1, 8, 3)
    depth = camera[..., 2]
    front = depth >= NEAR_PLANE
    p0, p1 = camera[:, _EDGES[:, 0]], camera[:, _EDGES[:, 1]]
    z0, z1 = p0[..., 2], p1[..., 2]
    crosses = (z0 - NEAR_PLANE) * (z1 - NEAR_PLANE) < 0
    share = np.where(crosses, (NEAR_PLANE - z0) / np.where(crosses, z1 - z0, 1.0), 0.0)
    cut = p0 + share[..., None] * (p1 - p0)
    points = np.concatenate((camera, cut), axis=1)  # (S, 20, 3)
    usable = np.concatenate((front, crosses), axis=1)
    homogeneous = np.concatenate((points, np.ones(points.shape[:2] + (1,))), axis=-1)
    projected = np.einsum("ij,skj->ski", calib.P2, homogeneous)
    w = np.maximum(projected[..., 2], 1e-6)
    u, v = projected[..., 0] / w, projected[..., 1] / w
    owner = np.repeat(scene.solids.owner[owned], usable.shape[1])
    keep = usable.ravel()
    box = np.empty((count, 4))
    box[:, :2], box[:, 2:] = np.inf, -np.inf
    np.minimum.at(box[:, 0], owner[keep], u.ravel()[keep])
    np.minimum.at(box[:, 1], owner[keep], v.ravel()[keep])
    np.maximum.at(box[:, 2], owner[keep], u.ravel()[keep])
    np.maximum.at(box[:, 3], owner[keep], v.ravel()[keep])
    seen = np.isfinite(box).all(axis=1)
    return np.where(seen[:, None], box, 0.0), seen


def kitti_labels(scene: Scene, scan: Scan, origin: np.ndarray, rotation: np.ndarray, calib: Calibration,
                 image_shape: tuple[int, int], rng: np.random.Generator, noise: LabelNoise | None = None,
                 noise_rng: np.random.Generator | None = None) -> FrameLabels:
    """The label rows of a frame. ``rng`` draws the frame's labelling distance and minimum 2-D height; with
    ``noise``, ``noise_rng`` draws the annotator's errors (jittered boxes, missed far and hidden objects)."""
    height, width = image_shape
    far, min_height = rng.uniform(50.0, 80.0), rng.uniform(10.0, 18.0)
    exact = sensor_boxes(scene, origin, rotation)
    boxes = exact
    box2d, in_front = image_boxes(scene, origin, rotation, calib)
    clipped = np.stack((np.clip(box2d[:, 0], 0, width - 1), np.clip(box2d[:, 1], 0, height - 1),
                        np.clip(box2d[:, 2], 0, width - 1), np.clip(box2d[:, 3], 0, height - 1)), axis=1)
    area = (box2d[:, 2] - box2d[:, 0]) * (box2d[:, 3] - box2d[:, 1])
    inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    in_image = in_front & (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    truncation = np.where(area > 0, 1.0 - inside / np.maximum(area, 1e-9), 1.0)
    blocked = np.where(scan.potential > 0, 1.0 - scan.visible / np.maximum(scan.potential, 1), 1.0)
    seen = in_image & (scan.visible > 0) & (truncation < MAX_TRUNCATION)
    distance = np.hypot(boxes[:, 0], boxes[:, 1])
    labelled = (seen & (distance <= far) & (clipped[:, 3] - clipped[:, 1] >= min_height)
                & (blocked < OCCLUSION_LEVELS[-1]))
    dontcare = seen & ~labelled & (blocked < HIDDEN)
    if noise is not None:  # every actor draws, labelled or not, so that the draws do not depend on the scene
        labelled &= ~noise.missing(distance, blocked, noise_rng)
        boxes = noise.jitter(exact, noise_rng)

    occlusion = np.searchsorted(np.asarray(OCCLUSION_LEVELS), blocked, side="right")
    occlusion = np.where((scan.potential < MIN_RAYS) | (truncation >= UNKNOWN_TRUNCATION), 3, occlusion)
    points = np.bincount(scan.owner[scan.owner >= 0], minlength=len(boxes))[: len(boxes)]

    objects = np.flatnonzero(labelled)
    regions = np.flatnonzero(dontcare)
    camera = calib.boxes_lidar_to_camera(boxes[objects]) if len(objects) else np.zeros((0, 7))
    rotation_y = _wrap(camera[:, 6])
    alpha = _wrap(rotation_y - np.arctan2(camera[:, 0], camera[:, 2]))
    labels = KittiLabels(
        name=np.concatenate((scene.actors.name[objects], np.full(len(regions), "DontCare"))).astype("<U16"),
        truncated=np.concatenate((np.round(truncation[objects], 2), -np.ones(len(regions)))),
        occluded=np.concatenate((occlusion[objects], -np.ones(len(regions)))).astype(np.int64),
        alpha=np.concatenate((alpha, np.full(len(regions), -10.0))),
        bbox=np.concatenate((clipped[objects], clipped[regions])),
        dimensions=np.concatenate((camera[:, 3:6], -np.ones((len(regions), 3)))),
        location=np.concatenate((camera[:, 0:3], np.full((len(regions), 3), -1000.0))),
        rotation_y=np.concatenate((rotation_y, np.full(len(regions), -10.0))),
    )
    rows = np.concatenate((objects, regions))
    return FrameLabels(labels=labels, actor=rows, boxes_lidar=boxes[rows], blocked=blocked[rows],
                       points=points[rows])


def _wrap(angle: np.ndarray) -> np.ndarray:
    return np.mod(angle + np.pi, 2 * np.pi) - np.pi
