"""Nearest surface along each ray of a spinning LiDAR: the ground plus every solid of the scene, vectorised.

Rays form a grid: ring r (elevation ``elevations[r]``, descending) by column c (azimuth
``-pi + 2 pi (c + 0.5) / columns``), ray index ``r * columns + c``, angles in the sensor frame. A solid can only
be hit by the rays inside the angular rectangle its bounding box covers, so each solid is tested against that
block of the grid alone (the cull); all (ray, solid) candidate pairs are then intersected at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssal.data.synthetic.ground import Ground
from ssal.data.synthetic.solids import Solids, intersect, transform

GROUND, NOTHING = -1, -2


@dataclass
class RayHits:
    """What each ray (R of them) meets first, and which actors it would have met without anything in between."""

    distance: np.ndarray  # (R,) metres, inf where nothing is hit within range
    surface: np.ndarray  # (R,) solid index, GROUND, or NOTHING
    incidence: np.ndarray  # (R,) |cos| between the ray and the surface normal (ground: its up vector)
    potential_actor: np.ndarray  # (K,) actor of each (actor, ray) pair where the ray meets the actor's solids
    potential_ray: np.ndarray  # (K,) ray of each such pair


def angle_blocks(corners: np.ndarray, elevations: np.ndarray, columns: int, max_range: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The grid block each solid can occupy, from its box corners (S, 8, 3) in the sensor frame.

    Returns first column (columns wrap), column count, first ring, ring count; counts are 0 for solids out of
    range or between rings.
    """
    # Azimuth span: the circle minus the widest gap between the corners' azimuths. A widest gap under half a
    # turn means the corners surround the sensor (it stands over the solid), so every column is a candidate.
    azimuth = np.sort(np.arctan2(corners[..., 1], corners[..., 0]), axis=1)
    gaps = np.diff(np.concatenate((azimuth, azimuth[:, :1] + 2 * np.pi), axis=1), axis=1)
    widest = gaps.argmax(axis=1)
    rows = np.arange(len(corners))
    start = np.take_along_axis(azimuth, ((widest + 1) % 8)[:, None], axis=1)[:, 0]
    span = 2 * np.pi - gaps[rows, widest]
    step = 2 * np.pi / columns
    first = np.floor((start + np.pi) / step - 0.5).astype(np.int64) - 1
    column_count = np.ceil(span / step).astype(np.int64) + 3
    around = gaps[rows, widest] < np.pi
    first = np.where(around, 0, first)
    column_count = np.where(around | (column_count > columns), columns, column_count)

    centre = corners.mean(axis=1)
    centre_distance = np.hypot(centre[:, 0], centre[:, 1])
    radius = np.hypot(corners[..., 0] - centre[:, None, 0], corners[..., 1] - centre[:, None, 1]).max(axis=1)
    near = np.maximum(centre_distance - radius, 0.05)
    far = centre_distance + radius
    top, bottom = corners[..., 2].max(axis=1), corners[..., 2].min(axis=1)
    upper = np.arctan2(top, np.where(top > 0, near, far)) + 1e-3
    lower = np.arctan2(bottom, np.where(bottom < 0, near, far)) - 1e-3
    descending = -np.asarray(elevations)
    ring_first = np.searchsorted(descending, -upper, side="left")
    ring_end = np.searchsorted(descending, -lower, side="right")
    ring_count = np.maximum(ring_end - ring_first, 0)
    ring_count = np.where(near > max_range, 0, ring_count)
    return first, column_count, ring_first, ring_count


def candidate_pairs(first, column_count, ring_first, ring_count, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (ray, solid) pair inside the solids' grid blocks: ray indices (P,), solid indices (P,), sorted by
    solid."""
    count = column_count * ring_count
    solid = np.repeat(np.arange(len(count)), count)
    start = np.cumsum(count) - count
    local = np.arange(int(count.sum()), dtype=np.int64) - start[solid]
    rings_here = ring_count[solid]
    column = np.mod(first[solid] + local // rings_here, columns)
    ring = ring_first[solid] + local % rings_here
    return ring * columns + column, solid


def cast(origin: np.ndarray, rotation: np.ndarray, directions: np.ndarray, elevations: np.ndarray, columns: int,
         ground: Ground, solids: Solids, max_range: float) -> RayHits:
    """Cast the sensor's rays. ``origin`` (3,) and ``rotation`` (3, 3) place the sensor in the world (sensor ->
    world); ``directions`` (R, 3) are the unit rays in the sensor frame, in grid order."""
    world_directions = transform(directions, rotation)
    distance = ground.intersect(origin, world_directions, max_range)
    surface = np.where(np.isfinite(distance), GROUND, NOTHING).astype(np.int64)
    incidence = np.abs(world_directions[:, 2])
    empty = np.zeros(0, dtype=np.int64)
    if not len(solids):
        return RayHits(distance, surface, incidence, empty, empty)

    corners = transform(solids.corners() - origin, rotation.T)  # world -> sensor frame
    ray, solid = candidate_pairs(*angle_blocks(corners, elevations, columns, max_range), columns)
    t, cosine = intersect(solids, solid, origin, world_directions.T.astype(np.float32)[:, ray])
    hit = t <= max_range
    ray, solid, t, cosine = ray[hit], solid[hit], t[hit], cosine[hit]

    np.minimum.at(distance, ray, t)
    nearest = t == distance[ray]
    surface[ray[nearest]] = solid[nearest]
    incidence[ray[nearest]] = cosine[nearest]

    owned = solids.owner[solid] >= 0
    keys = np.unique(solids.owner[solid[owned]] * len(directions) + ray[owned])
    return RayHits(distance, surface, incidence, keys // len(directions), keys % len(directions))
