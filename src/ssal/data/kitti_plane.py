"""KITTI road planes (``planes/*.txt``): ``a b c d`` with ``a*x + b*y + c*z + d = 0`` in the rectified camera
frame, normal pointing up (−y). Copy-paste augmentation and CPSP set objects on this plane."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ssal.errors import SsalError


def read_plane(path: str | os.PathLike) -> np.ndarray:
    """The plane (4,) float64 of a KITTI plane file, normalised to a unit normal pointing up (negative y)."""
    path = Path(path)
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise SsalError("plane file not found", path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SsalError(f"cannot read plane file ({error.__class__.__name__})", path) from None
    try:
        plane = np.array([float(v) for v in lines[-1].split()], dtype=np.float64)
    except (ValueError, IndexError):
        raise SsalError("the last line must hold four numbers 'a b c d'", path) from None
    if plane.shape != (4,) or not np.isfinite(plane).all() or np.linalg.norm(plane[:3]) == 0:
        raise SsalError("the last line must hold four finite numbers 'a b c d' with a non-zero normal", path)
    plane = plane / np.linalg.norm(plane[:3])
    return -plane if plane[1] > 0 else plane


def format_plane(plane: np.ndarray) -> str:
    """KITTI's plane file text."""
    return "# Plane\nWidth 4\nHeight 1\n" + " ".join(f"{v:.6e}" for v in plane) + "\n"
