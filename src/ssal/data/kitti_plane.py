"""KITTI road planes (``planes/*.txt``): ``a b c d`` with ``a*x + b*y + c*z + d = 0`` in the rectified camera
frame, normal pointing up (−y). Copy-paste augmentation and CPSP set objects on this plane."""

from __future__ import annotations

import os

import numpy as np

from ssal.data.text_files import read_text
from ssal.errors import SsalError


def read_plane(path: str | os.PathLike) -> np.ndarray:
    """The plane (4,) float64 of a KITTI plane file, normalised to a unit normal pointing up (negative y)."""
    lines = [line for line in read_text(path, "plane file").splitlines() if line.strip()]
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
