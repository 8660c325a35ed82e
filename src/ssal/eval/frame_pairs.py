"""All pairs of objects that share a frame, for evaluations that compare everything in a frame with everything
else in it, for all frames at once."""

from __future__ import annotations

import numpy as np


def same_frame_pairs(frame_a: np.ndarray, frame_b: np.ndarray, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs (i, j) with ``frame_a[i] == frame_b[j]``, ordered by i then j.

    Args:
        frame_a: (N,) frame index of each object of the first kind, sorted (a frame's objects contiguous).
        frame_b: (M,) the same for the second kind, sorted.

    Returns:
        Two (P,) int64 index arrays.
    """
    count_b = np.bincount(frame_b, minlength=num_frames)
    start_b = np.cumsum(count_b) - count_b
    partners = count_b[frame_a]
    i = np.repeat(np.arange(len(frame_a)), partners)
    first = np.cumsum(partners) - partners
    j = np.arange(len(i)) - np.repeat(first, partners) + np.repeat(start_b[frame_a], partners)
    return i.astype(np.int64), j.astype(np.int64)
