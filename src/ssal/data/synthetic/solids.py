"""Solids of the synthetic world (boxes, cylinders, ellipsoids) and their vectorised ray intersection.

A *part* is one solid described in the frame of the thing it belongs to (an actor or a piece of clutter): a row
of ``PART_COLUMNS`` numbers, see ``part``. ``Solids`` holds every solid of a scene in the world frame, as
columns: kind, centre, rotation (local -> world), half extents, surface reflectance, dropout probability and
depth scatter (foliage lets rays in before they return), and the index of the actor that owns it (-1 for static
clutter).

Local shapes, centred on the origin of the solid:
- box: ``|x| <= hx, |y| <= hy, |z| <= hz``;
- cylinder: axis along local z, radius ``hx`` (``hy`` is ignored), ``|z| <= hz``;
- ellipsoid: semi-axes ``hx, hy, hz``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOX, CYLINDER, ELLIPSOID = 0, 1, 2
PART_COLUMNS = 13  # kind, cx, cy, cz, yaw, pitch, roll, hx, hy, hz, reflectance, dropout, scatter
_UNIT_CORNERS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)


def part(kind: int, centre, half, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0,
         reflectance: float = 0.3, dropout: float = 0.0, scatter: float = 0.0) -> tuple:
    """One solid in its owner's frame. Rotation: ``Rz(yaw) @ Ry(pitch) @ Rx(roll)``; ``half``: half extents
    (cylinder: radius, radius, half height); ``scatter``: metres (one standard deviation) by which returns land
    inside the surface."""
    return (float(kind), *map(float, centre), float(yaw), float(pitch), float(roll), *map(float, half),
            float(reflectance), float(dropout), float(scatter))


def transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``points @ matrix.T`` for points (..., 3) and a 3x3 matrix, without BLAS (whose threads, on a loaded
    machine, slow everything around these small products down)."""
    return np.einsum("...j,ij->...i", points, matrix)


def rotation_matrices(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(S, 3, 3) rotations ``Rz(yaw) @ Ry(pitch) @ Rx(roll)`` for angle arrays (S,)."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    return np.stack((
        np.stack((cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr), axis=-1),
        np.stack((sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr), axis=-1),
        np.stack((-sp, cp * sr, cp * cr), axis=-1),
    ), axis=-2)


@dataclass
class Solids:
    """Every solid of a scene (S of them), world frame, sorted by kind (boxes, then cylinders, then ellipsoids)."""

    kind: np.ndarray  # (S,) int8
    centre: np.ndarray  # (S, 3)
    rotation: np.ndarray  # (S, 3, 3) local -> world
    half: np.ndarray  # (S, 3)
    reflectance: np.ndarray  # (S,) in [0, 1]; >= 0.9 marks retro-reflectors
    dropout: np.ndarray  # (S,) probability that a return from this surface is lost (glass, foliage)
    scatter: np.ndarray  # (S,) metres by which returns land beyond the surface (foliage), one standard deviation
    owner: np.ndarray  # (S,) int64 actor index, -1 for static clutter

    def __len__(self) -> int:
        return len(self.kind)

    @classmethod
    def from_parts(cls, parts: np.ndarray, poses: np.ndarray, owner: np.ndarray) -> Solids:
        """Place parts (S, PART_COLUMNS), each given in its owner's frame, with owner poses (S, 4)
        ``(x, y, z, yaw)`` (z: the ground under the owner)."""
        parts = np.asarray(parts, dtype=np.float64).reshape(-1, PART_COLUMNS)
        poses = np.asarray(poses, dtype=np.float64).reshape(-1, 4)
        owner_rotation = rotation_matrices(poses[:, 3], np.zeros(len(poses)), np.zeros(len(poses)))
        local_rotation = rotation_matrices(parts[:, 4], parts[:, 5], parts[:, 6])
        centre = np.einsum("sij,sj->si", owner_rotation, parts[:, 1:4]) + poses[:, :3]
        order = np.argsort(parts[:, 0], kind="stable")  # kinds kept together (see ``intersect``)
        return cls(
            kind=parts[order, 0].astype(np.int8), centre=centre[order],
            rotation=(owner_rotation @ local_rotation)[order], half=parts[order, 7:10],
            reflectance=parts[order, 10], dropout=parts[order, 11], scatter=parts[order, 12],
            owner=np.asarray(owner, dtype=np.int64).reshape(-1)[order],
        )

    @classmethod
    def empty(cls) -> Solids:
        return cls.from_parts(np.zeros((0, PART_COLUMNS)), np.zeros((0, 4)), np.zeros(0))

    def corners(self) -> np.ndarray:
        """(S, 8, 3) world corners of each solid's local bounding box (they enclose the solid)."""
        half = self.half.copy()
        cylinder = self.kind == CYLINDER
        half[cylinder, 1] = half[cylinder, 0]  # a cylinder's radius is hx; hy plays no part
        local = _UNIT_CORNERS[None] * half[:, None, :]
        return np.einsum("sij,skj->ski", self.rotation, local) + self.centre[:, None, :]


def intersect(solids: Solids, index: np.ndarray, origin: np.ndarray, directions: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Entry distance along each ray into its paired solid, and the cosine of the angle of incidence there.

    ``index`` (P,) pairs rays with solids and must be sorted (``Solids`` keep their kinds together, so each kind
    is then one contiguous run); ``directions`` (3, P) are the unit rays (world frame, one column per pair),
    all starting at ``origin`` (3,). Returns ``t`` (P,), ``inf`` where the ray misses or starts inside the
    solid, and ``|cos|`` (P,) between the ray and the surface normal at the entry point.
    """
    t = np.full(len(index), np.inf)
    cosine = np.zeros(len(index))
    if not len(index):
        return t, cosine
    if np.any(np.diff(index) < 0):
        raise ValueError("intersect needs the pairs sorted by solid")
    # Into each solid's frame: d' = R^T d, o' = R^T (o - c); elementwise, as BLAS threads cost more than they
    # save on 3x3 products. float32 (millimetres at 80 m) halves the memory traffic.
    directions = directions.astype(np.float32, copy=False)
    rotation = solids.rotation.reshape(-1, 9).T.astype(np.float32)[:, index]  # (9, P): row 3 i + j is R[i, j]
    d_local = np.stack([rotation[j] * directions[0] + rotation[3 + j] * directions[1] + rotation[6 + j] * directions[2]
                        for j in range(3)])
    o_solid = np.einsum("sji,sj->is", solids.rotation, origin[None, :] - solids.centre).astype(np.float32)
    o_local = o_solid[:, index]
    half = solids.half.T.astype(np.float32)[:, index]
    kind_bounds = np.searchsorted(solids.kind[index], [BOX, CYLINDER, ELLIPSOID, ELLIPSOID + 1])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for code, function in ((BOX, _box), (CYLINDER, _cylinder), (ELLIPSOID, _ellipsoid)):
            a, b = kind_bounds[code], kind_bounds[code + 1]
            if b > a:
                t[a:b], cosine[a:b] = function(o_local[:, a:b], d_local[:, a:b], half[:, a:b])
    return t, cosine


def _box(o: np.ndarray, d: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slab test. Rows of ``o``, ``d``, ``half`` (3, P) are x, y, z."""
    near, far = [], []
    for axis in range(3):
        inverse = 1.0 / d[axis]
        t1 = (-half[axis] - o[axis]) * inverse
        t2 = (half[axis] - o[axis]) * inverse
        near.append(np.minimum(t1, t2))
        far.append(np.maximum(t1, t2))
    t_in = np.maximum(np.maximum(near[0], near[1]), near[2])
    t_out = np.minimum(np.minimum(far[0], far[1]), far[2])
    hit = (t_out >= t_in) & (t_in > 0)
    # The entry face is the slab entered last; the normal is that axis.
    cosine = np.where(near[0] >= np.maximum(near[1], near[2]), np.abs(d[0]),
                      np.where(near[1] >= near[2], np.abs(d[1]), np.abs(d[2])))
    return np.where(hit, t_in, np.inf), cosine


def _cylinder(o: np.ndarray, d: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    radius, half_height = half[0], half[2]
    a = d[0] * d[0] + d[1] * d[1]
    b = o[0] * d[0] + o[1] * d[1]
    c = o[0] * o[0] + o[1] * o[1] - radius * radius
    disc = b * b - a * c
    root = np.sqrt(np.maximum(disc, 0.0))
    t_side = (-b - root) / a
    z_side = o[2] + t_side * d[2]
    side_ok = (disc >= 0) & (a > 1e-12) & (t_side > 0) & (np.abs(z_side) <= half_height)
    t_cap = (np.where(d[2] < 0, half_height, -half_height) - o[2]) / d[2]
    x_cap, y_cap = o[0] + t_cap * d[0], o[1] + t_cap * d[1]
    cap_ok = (t_cap > 0) & (x_cap * x_cap + y_cap * y_cap <= radius * radius)
    t_side = np.where(side_ok, t_side, np.inf)
    t_cap = np.where(cap_ok, t_cap, np.inf)
    # Side normal: (x, y, 0) / radius at the entry point; its dot with d is (b + t a) / radius.
    side_cosine = np.abs(b + t_side * a) / radius
    cosine = np.where(t_cap < t_side, np.abs(d[2]), side_cosine)
    return np.minimum(t_side, t_cap), cosine


def _ellipsoid(o: np.ndarray, d: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    os_, ds = o / half, d / half  # scaled to the unit sphere (t is unchanged)
    a = (ds * ds).sum(axis=0)
    b = (os_ * ds).sum(axis=0)
    c = (os_ * os_).sum(axis=0) - 1.0
    disc = b * b - a * c
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    hit = (disc >= 0) & (t > 0)
    point = o + np.where(hit, t, 0.0) * d
    normal = point / (half * half)
    cosine = np.abs((normal * d).sum(axis=0)) / np.maximum(np.sqrt((normal * normal).sum(axis=0)), 1e-12)
    return np.where(hit, t, np.inf), cosine
