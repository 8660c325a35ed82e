"""Headerless float32 point files (KITTI ``velodyne/*.bin``): N rows of ``num_features`` values."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ssal.errors import SsalError


def read_points(path: str | os.PathLike, num_features: int = 4) -> np.ndarray:
    """Points (N, num_features) float32. An empty file, a size that is not a whole number of records, and NaN or
    infinite values are errors naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SsalError("point file not found", path) from None
    except OSError as error:
        raise SsalError(f"cannot read point file ({error.strerror})", path) from None
    record = 4 * num_features
    if len(raw) == 0:
        raise SsalError("point file is empty (0 points)", path)
    if len(raw) % record:
        raise SsalError(f"size {len(raw)} bytes is not a multiple of {record} "
                        f"({num_features} float32 values per point); the file is truncated or not float32", path)
    points = np.frombuffer(raw, dtype=np.float32).reshape(-1, num_features)
    if not np.isfinite(points).all():
        bad = int((~np.isfinite(points).all(axis=1)).sum())
        raise SsalError(f"{bad} of {len(points)} points hold NaN or infinite values", path)
    return points.copy()


def write_points(path: str | os.PathLike, points: np.ndarray) -> None:
    """Write points as raw float32 (row-major), the KITTI velodyne format."""
    np.ascontiguousarray(points, dtype=np.float32).tofile(path)
