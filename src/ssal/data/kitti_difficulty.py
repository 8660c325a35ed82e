"""KITTI difficulty levels of labelled objects, as OpenPCDet writes them into its info files.

Easy: 2-D box height >= 40 px, occlusion 0, truncation <= 0.15; Moderate: >= 25 px, occlusion <= 1, truncation
<= 0.30; Hard: >= 25 px, occlusion <= 2, truncation <= 0.50; otherwise -1. The height here is
``bottom - top + 1`` (OpenPCDet's convention); the official evaluation applies its own filters with
``bottom - top`` (see ``ssal.eval.kitti``), so a box exactly at a threshold may be Easy here and not there.
"""

from __future__ import annotations

import numpy as np

EASY, MODERATE, HARD, UNKNOWN = 0, 1, 2, -1
_LEVELS = ((EASY, 40, 0, 0.15), (MODERATE, 25, 1, 0.30), (HARD, 25, 2, 0.50))


def kitti_difficulty(bbox: np.ndarray, occluded: np.ndarray, truncated: np.ndarray) -> np.ndarray:
    """Difficulty (M,) int32 of objects with 2-D boxes (M, 4), occlusion levels (M,) and truncation (M,)."""
    height = bbox[:, 3] - bbox[:, 1] + 1
    level = np.full(len(bbox), UNKNOWN, dtype=np.int32)
    for value, min_height, max_occlusion, max_truncation in reversed(_LEVELS):
        passes = (height >= min_height) & (occluded <= max_occlusion) & (truncated <= max_truncation)
        level[passes] = value
    return level
