"""Waymo labels for a synthetic sequence, as Waymo's annotators label whole sequences.

* Classes: every car, van, truck, tram and trailer is a ``Vehicle``; ``Pedestrian`` and ``Cyclist`` keep their
  names. (No ``Sign`` is labelled.)
* Boxes: tight around vehicles; around people a little looser than KITTI's (``LOOSER``), since Waymo's boxes
  take in the stride and the swing of arms and pedals. Centred, in the vehicle frame (origin on the ground under
  the car, x forward, z up), heading in that frame.
* Which objects: an object is labelled through its whole sequence once any frame of the sequence shows at least
  one of its points, in every frame where it is within ``LABEL_RANGE`` of the car, hidden or not, so that some
  boxes hold no point, as in Waymo (OpenPCDet's ``FILTER_EMPTY_BOXES_FOR_TRAIN`` exists for them). Objects
  standing in a no-label zone are not labelled.
* ``num_points_in_gt``: the points of the scan inside the box; ``difficulty`` (``detection_difficulty_level``):
  2 for objects at least ``HARD_BLOCKED`` hidden behind nearer things, else 0 (unknown: readers rate it by its
  points, LEVEL_2 at <= 5); ``tracking_difficulty`` the same; ``obj_ids`` one 22-character id per object and
  sequence.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from ssal.data.synthetic.labels import sensor_boxes
from ssal.data.synthetic.scene import Scene
from ssal.data.synthetic.sensor import Scan
from ssal.geometry import count_points_in_boxes_numpy

WAYMO_CLASS = {"Car": "Vehicle", "Van": "Vehicle", "Truck": "Vehicle", "Tram": "Vehicle", "Misc": "Vehicle",
               "Pedestrian": "Pedestrian", "Person_sitting": "Pedestrian", "Cyclist": "Cyclist"}
LOOSER = {"Pedestrian": (0.15, 0.2, 0.0), "Cyclist": (0.05, 0.25, 0.0)}  # metres added to length, width, height
LABEL_RANGE = 75.0
HARD_BLOCKED = 0.9


@dataclass
class Observation:
    """What one frame shows of each of the A actors."""

    boxes: np.ndarray  # (A, 7) label boxes, vehicle frame
    own_points: np.ndarray  # (A,) points of the scan that came from the actor
    points_in_box: np.ndarray  # (A,) points of the scan inside its label box
    blocked: np.ndarray  # (A,) share of the actor's rays that nearer things stopped
    distance: np.ndarray  # (A,) metres from the car, in bird's-eye view


def waymo_names(scene: Scene) -> np.ndarray:
    return np.array([WAYMO_CLASS[str(name)] for name in scene.actors.name], dtype="<U10")


def label_boxes(scene: Scene, origin: np.ndarray, rotation: np.ndarray, height: float) -> np.ndarray:
    """(A, 7) Waymo label boxes in the vehicle frame of a sensor ``height`` above its origin."""
    boxes = sensor_boxes(scene, origin, rotation)
    boxes[:, 2] += height
    for name, pad in LOOSER.items():
        rows = scene.actors.name == name
        boxes[rows, 3:6] += np.asarray(pad)
    return boxes


def observe(scene: Scene, scan: Scan, points: np.ndarray, origin: np.ndarray, rotation: np.ndarray,
            height: float) -> Observation:
    """The observation of every actor in a frame whose points (N, 3+) are in the vehicle frame."""
    count = len(scene.actors)
    boxes = label_boxes(scene, origin, rotation, height)
    inside = (count_points_in_boxes_numpy(points[:, :3].astype(np.float64), boxes) if count
              else np.zeros(0, dtype=np.int64))
    own = np.bincount(scan.owner[scan.owner >= 0], minlength=count)[:count]
    blocked = np.where(scan.potential > 0, 1.0 - scan.visible / np.maximum(scan.potential, 1), 1.0)
    return Observation(boxes=boxes, own_points=own, points_in_box=inside.astype(np.int64), blocked=blocked,
                       distance=np.hypot(boxes[:, 0], boxes[:, 1]))


def labelled_in_sequence(observations: list[Observation], excluded: np.ndarray) -> np.ndarray:
    """(A,) bool: the actors with a point in some frame, less ``excluded`` (those in a no-label zone)."""
    seen = np.zeros(len(excluded), dtype=bool)
    for observation in observations:
        seen |= observation.own_points > 0
    return seen & ~excluded


def object_ids(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random 22-character ids (URL-safe base64 of 16 bytes, Waymo's id length)."""
    raw = rng.integers(0, 256, size=(count, 16), dtype=np.uint8)
    return np.array([base64.urlsafe_b64encode(row.tobytes()).decode()[:22] for row in raw], dtype="<U22")


def frame_annotations(observation: Observation, labelled: np.ndarray, names: np.ndarray, ids: np.ndarray,
                      velocity: np.ndarray, acceleration: np.ndarray, vehicle_rotation: np.ndarray,
                      global_rotation: np.ndarray) -> dict:
    """OpenPCDet's ``annos`` dict of one frame. ``velocity``/``acceleration`` (A, 2) world frame;
    ``vehicle_rotation`` (3, 3) vehicle -> world; ``global_rotation`` (2, 2) world -> global."""
    rows = np.flatnonzero(labelled & (observation.distance <= LABEL_RANGE))
    boxes = observation.boxes[rows]
    speed_global = velocity[rows] @ global_rotation.T
    accel_global = acceleration[rows] @ global_rotation.T
    speed_vehicle = (np.pad(velocity[rows], ((0, 0), (0, 1))) @ vehicle_rotation)[:, :2]
    hard = np.where(observation.blocked[rows] >= HARD_BLOCKED, 2, 0)
    if not len(rows):  # OpenPCDet's layout for a frame without objects: empty lists made arrays
        empty = np.array([])
        return {"name": empty, "difficulty": empty, "dimensions": empty, "location": empty,
                "heading_angles": empty, "obj_ids": empty, "tracking_difficulty": empty,
                "num_points_in_gt": empty, "speed_global": empty, "accel_global": empty,
                "gt_boxes_lidar": np.zeros((0, 9))}
    return {
        "name": names[rows], "difficulty": hard.astype(np.int64), "dimensions": boxes[:, 3:6].copy(),
        "location": boxes[:, :3].copy(), "heading_angles": boxes[:, 6].copy(), "obj_ids": ids[rows],
        "tracking_difficulty": hard.astype(np.int64), "num_points_in_gt": observation.points_in_box[rows],
        "speed_global": speed_global, "accel_global": accel_global,
        "gt_boxes_lidar": np.concatenate((boxes, speed_vehicle), axis=1),
    }
