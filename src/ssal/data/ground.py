"""The ground under a scene, as a plane ``a*x + b*y + c*z + d = 0`` in the LiDAR frame with ``c > 0``.

Pasted objects are set on it (copy-paste augmentation, CPSP pseudo-scenes). KITTI ships planes for its frames;
for frames without one we estimate it from the scan's lowest points.
"""

from __future__ import annotations

import numpy as np


def ground_height(plane: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Height z (N,) of the plane under LiDAR positions ``xy`` (N, 2)."""
    a, b, c, d = plane
    return -(a * xy[:, 0] + b * xy[:, 1] + d) / c


def estimate_ground_plane(points: np.ndarray, cell: float = 1.0, max_range: float = 40.0, trials: int = 200,
                          inlier_distance: float = 0.1, min_normal_z: float = 0.9) -> np.ndarray | None:
    """The ground plane of a scan: RANSAC over the lowest point of each ``cell``-metre BEV cell near the sensor
    (walls and cars have high lowest points, stray low returns are outliers), then a least-squares refit on the
    inliers. Deterministic. Returns None when fewer than 10 cells hold points."""
    lowest = _lowest_per_cell(points, cell, max_range)
    if len(lowest) < 10:
        return None
    rng = np.random.default_rng(0)  # fixed: the same scan always gives the same plane
    best, best_count = None, -1
    for triplet in rng.integers(0, len(lowest), size=(trials, 3)):
        plane = _plane_through(lowest[triplet])
        if plane is None or plane[2] < min_normal_z:
            continue
        count = int((np.abs(lowest @ plane[:3] + plane[3]) < inlier_distance).sum())
        if count > best_count:
            best, best_count = plane, count
    if best is None:
        return None
    inliers = np.abs(lowest @ best[:3] + best[3]) < inlier_distance
    return _fit_plane(lowest[inliers]) if inliers.sum() >= 3 else best


def _lowest_per_cell(points: np.ndarray, cell: float, max_range: float) -> np.ndarray:
    near = points[np.hypot(points[:, 0], points[:, 1]) < max_range, :3].astype(np.float64)
    if len(near) == 0:
        return near
    cells = np.floor(near[:, :2] / cell).astype(np.int64)
    cells -= cells.min(axis=0)
    key = cells[:, 0] * (cells[:, 1].max() + 1) + cells[:, 1]
    order = np.lexsort((near[:, 2], key))  # by cell, then by height
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    return near[order[first]]


def _plane_through(points: np.ndarray) -> np.ndarray | None:
    normal = np.cross(points[1] - points[0], points[2] - points[0])
    norm = np.linalg.norm(normal)
    if norm < 1e-9:
        return None
    normal = normal / norm
    normal = -normal if normal[2] < 0 else normal
    return np.append(normal, -normal @ points[0])


def _fit_plane(points: np.ndarray) -> np.ndarray:
    """Least-squares z = p x + q y + r, as a unit-normal plane with the normal up."""
    design = np.column_stack((points[:, 0], points[:, 1], np.ones(len(points))))
    (p, q, r), *_ = np.linalg.lstsq(design, points[:, 2], rcond=None)
    plane = np.array([-p, -q, 1.0, -r])
    return plane / np.linalg.norm(plane[:3])
