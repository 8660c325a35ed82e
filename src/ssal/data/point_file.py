"""Headerless float32 point files (KITTI ``velodyne/*.bin``): N rows of ``num_features`` values."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ssal.errors import SsalError

__all__ = ["read_points", "count_points", "write_points"]


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
    _check_size(len(raw), num_features, path)
    points = np.frombuffer(raw, dtype=np.float32).reshape(-1, num_features)
    if not np.isfinite(points).all():
        bad = int((~np.isfinite(points).all(axis=1)).sum())
        raise SsalError(f"{bad} of {len(points)} points hold NaN or infinite values", path)
    return points.copy()


def count_points(path: str | os.PathLike, num_features: int = 4) -> int:
    """Points in a point file, from its size alone (``ssal data info``), with the same checks of the size as
    ``read_points``: a missing or empty file and a size that is not a whole number of records are errors."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SsalError("point file not found", path) from None
    except OSError as error:
        raise SsalError(f"cannot read point file ({error.strerror})", path) from None
    _check_size(size, num_features, path)
    return size // (4 * num_features)


def _check_size(size: int, num_features: int, path: Path) -> None:
    record = 4 * num_features
    if size == 0:
        raise SsalError("point file is empty (0 points)", path)
    if size % record:
        raise SsalError(f"size {size} bytes is not a multiple of {record} "
                        f"({num_features} float32 values per point); the file is truncated or not float32", path)


def write_points(path: str | os.PathLike, points: np.ndarray) -> None:
    """Write points as raw float32 (row-major), the KITTI velodyne format."""
    np.ascontiguousarray(points, dtype=np.float32).tofile(path)
