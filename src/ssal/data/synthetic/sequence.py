"""A scene in motion: the ego vehicle drives along its lane and the actors follow their velocities, frame by frame.

At time ``t = k * dt`` (frame k):

* the ego vehicle is ``ego_speed * t`` further along the road at its lateral offset, turned with the road;
* an actor heading along the road (within ``ALONG_ROAD`` either way) follows the road at its speed, keeping its
  lateral offset; any other moving actor (crossing pedestrians, side-street traffic) goes straight on;
* everything stands on the ground where it is.

Nothing here brakes, so actors that would run into each other or into the ego vehicle at some frame of the
sequence are taken out of the scene before it starts (``drop_colliding``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from ssal.data.synthetic.scene import Actors, Scene
from ssal.data.synthetic.solids import Solids, rotation_matrices
from ssal.geometry import boxes_overlap_bev

ALONG_ROAD = math.radians(30.0)
EGO_FOOTPRINT = (-0.4, 5.2, 2.2)  # centre offset along the heading, length, width (as the scene reserves it)
_EPSILON = 0.01  # seconds, for velocities and accelerations by central differences


@dataclass
class Motion:
    """Where everything is at each of K frames (A actors), world frame."""

    boxes: np.ndarray  # (K, A, 7) x, y, z (centre), l, w, h, yaw
    velocity: np.ndarray  # (K, A, 2) m/s
    acceleration: np.ndarray  # (K, A, 2) m/s^2
    ego_pose: np.ndarray  # (K, 4, 4) ego frame (on the ground, x forward) -> world

    @property
    def frames(self) -> int:
        return len(self.ego_pose)


def plan_motion(scene: Scene, frames: int, dt: float, ego_speed: float) -> Motion:
    """The positions of the ego vehicle and of every actor of ``scene`` over ``frames`` frames ``dt`` apart."""
    times = np.arange(frames) * dt
    boxes = _actor_boxes(scene, times)
    ahead, behind = _actor_boxes(scene, times + _EPSILON), _actor_boxes(scene, times - _EPSILON)
    velocity = (ahead[..., :2] - behind[..., :2]) / (2 * _EPSILON)
    acceleration = (ahead[..., :2] - 2 * boxes[..., :2] + behind[..., :2]) / _EPSILON**2
    return Motion(boxes=boxes, velocity=velocity, acceleration=acceleration,
                  ego_pose=_ego_poses(scene, times, ego_speed))


def _actor_boxes(scene: Scene, times: np.ndarray) -> np.ndarray:
    """(K, A, 7) actor boxes at ``times``."""
    road, actors = scene.road, scene.actors
    box = actors.box
    speed = np.hypot(actors.velocity[:, 0], actors.velocity[:, 1])
    s0, l0 = road.to_road(box[:, 0], box[:, 1])
    relative = _wrap(box[:, 6] - (road.heading + road.curvature * s0))
    along = (speed > 0) & ((np.abs(relative) < ALONG_ROAD) | (np.abs(relative) > math.pi - ALONG_ROAD))
    direction = np.sign(np.cos(relative))
    t = times[:, None]
    lateral = np.broadcast_to(l0, (len(times), len(box)))
    x_road, y_road, road_direction = road.to_world(s0 + direction * speed * t, lateral)
    x = np.where(along, x_road, box[:, 0] + actors.velocity[:, 0] * t)
    y = np.where(along, y_road, box[:, 1] + actors.velocity[:, 1] * t)
    yaw = np.where(along, _wrap(road_direction + relative), np.broadcast_to(box[:, 6], x.shape))
    height = box[:, 5]
    z = scene.ground.height(x.ravel(), y.ravel()).reshape(x.shape) + height / 2
    dims = np.broadcast_to(box[:, 3:6], x.shape + (3,))
    return np.concatenate((np.stack((x, y, z), axis=-1), dims, yaw[..., None]), axis=-1)


def _ego_poses(scene: Scene, times: np.ndarray, speed: float) -> np.ndarray:
    """(K, 4, 4) ego poses: along the road at its lateral offset, keeping its initial pitch and roll."""
    road = scene.road
    x, y, direction = road.to_world(speed * times, np.full(len(times), road.ego_l))
    start = scene.ego_pose[:3, :3]
    pitch, roll = -math.asin(max(-1.0, min(1.0, start[2, 0]))), math.atan2(start[2, 1], start[2, 2])
    poses = np.tile(np.eye(4), (len(times), 1, 1))
    poses[:, :3, :3] = rotation_matrices(direction - road.heading, np.full(len(times), pitch),
                                         np.full(len(times), roll))
    poses[:, 0, 3], poses[:, 1, 3] = x, y
    poses[:, 2, 3] = scene.ground.height(x, y)
    return poses


def drop_colliding(scene: Scene, motion: Motion) -> tuple[Scene, Motion]:
    """The scene and motion without the actors that overlap another actor or the ego vehicle (in bird's-eye
    view) at some frame: of two moving things the faster one goes, the ego vehicle always stays."""
    count = len(scene.actors)
    removed = np.zeros(count, dtype=bool)
    speed = np.hypot(scene.actors.velocity[:, 0], scene.actors.velocity[:, 1])
    for k in range(motion.frames):
        boxes = np.concatenate((motion.boxes[k], _ego_box(motion.ego_pose[k])[None]))
        overlap = boxes_overlap_bev(torch.from_numpy(boxes), torch.from_numpy(boxes)).numpy()
        first, second = np.nonzero(np.triu(overlap > 1e-6, k=1))
        for a, b in zip(first.tolist(), second.tolist()):
            if removed[a] or (b < count and removed[b]):
                continue
            if b == count:  # the ego vehicle
                removed[a] = True
            else:
                removed[a if (speed[a], a) > (speed[b], b) else b] = True
    if not removed.any():
        return scene, motion
    return _without(scene, motion, ~removed)


def _ego_box(pose: np.ndarray) -> np.ndarray:
    offset, length, width = EGO_FOOTPRINT
    yaw = math.atan2(pose[1, 0], pose[0, 0])
    centre = pose[:3, 3] + offset * pose[:3, 0]
    return np.array([centre[0], centre[1], centre[2] + 0.8, length, width, 1.6, yaw])


def _without(scene: Scene, motion: Motion, keep: np.ndarray) -> tuple[Scene, Motion]:
    actors = scene.actors
    kept_actors = Actors(name=actors.name[keep], box=actors.box[keep], velocity=actors.velocity[keep],
                         track_id=actors.track_id[keep], tags=actors.tags[keep])
    new_index = np.cumsum(keep) - 1
    solids = scene.solids
    owned = solids.owner >= 0
    stays = ~owned | keep[np.where(owned, solids.owner, 0)]
    owner = np.where(solids.owner[stays] >= 0, new_index[np.maximum(solids.owner[stays], 0)], -1)
    kept_solids = Solids(kind=solids.kind[stays], centre=solids.centre[stays], rotation=solids.rotation[stays],
                         half=solids.half[stays], reflectance=solids.reflectance[stays], dropout=solids.dropout[stays],
                         scatter=solids.scatter[stays], owner=owner)
    kept_motion = Motion(boxes=motion.boxes[:, keep], velocity=motion.velocity[:, keep],
                         acceleration=motion.acceleration[:, keep], ego_pose=motion.ego_pose)
    return replace(scene, solids=kept_solids, actors=kept_actors), kept_motion


def scene_at(scene: Scene, motion: Motion, frame: int) -> Scene:
    """The scene at ``frame``: every actor's solids moved rigidly with its box (turned about its footprint)."""
    start, now = scene.actors.box, motion.boxes[frame]
    solids = scene.solids
    owned = np.flatnonzero(solids.owner >= 0)
    owner = solids.owner[owned]
    turn = rotation_matrices(now[owner, 6] - start[owner, 6], np.zeros(len(owned)), np.zeros(len(owned)))
    foot_start = start[owner, :3] - np.stack((np.zeros(len(owned)), np.zeros(len(owned)), start[owner, 5] / 2), 1)
    foot_now = now[owner, :3] - np.stack((np.zeros(len(owned)), np.zeros(len(owned)), now[owner, 5] / 2), 1)
    centre, rotation = solids.centre.copy(), solids.rotation.copy()
    centre[owned] = np.einsum("sij,sj->si", turn, solids.centre[owned] - foot_start) + foot_now
    rotation[owned] = turn @ solids.rotation[owned]
    actors = replace(scene.actors, box=now.copy(), velocity=motion.velocity[frame].copy())
    return replace(scene, solids=replace(solids, centre=centre, rotation=rotation), actors=actors,
                   ego_pose=motion.ego_pose[frame])


def _wrap(angle):
    return np.mod(angle + math.pi, 2 * math.pi) - math.pi
