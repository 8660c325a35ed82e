"""Per-frame reductions over boxes stored back to back: frame ``i`` owns rows ``offsets[i]:offsets[i + 1]``.

Every pool-level score is a reduction of per-box values over frames. ``np.add.reduceat`` alone mishandles empty
frames (it returns the row at the index instead of 0, and fails on an index equal to the length), so these
helpers reduce only over non-empty frames and fill the empty ones with a stated value. Large 2-D inputs (RoI
features of a million boxes, possibly memory-mapped float16) are reduced in chunks of rows, so that only one
chunk is ever converted to float32 in memory.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse  # a dependency of scikit-learn

CHUNK_ROWS = 1 << 16  # rows converted to float32 at a time


def counts_from_offsets(offsets: np.ndarray) -> np.ndarray:
    """(N,) boxes per frame from offsets (N + 1,)."""
    return np.diff(np.asarray(offsets, dtype=np.int64))


def box_frame_index(offsets: np.ndarray) -> np.ndarray:
    """(K,) the frame index of every box."""
    counts = counts_from_offsets(offsets)
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of ``values`` (K,) or (K, D) over each frame -> (N,) or (N, D) float64 (float32 for 2-D); 0 for empty
    frames."""
    offsets = np.asarray(offsets, dtype=np.int64)
    if np.ndim(values) == 1:
        return np.bincount(box_frame_index(offsets), weights=np.asarray(values, dtype=np.float64),
                           minlength=len(offsets) - 1).astype(np.float64)  # int64 when there are no boxes
    return _segment_sum_2d(values, offsets)


def segment_mean(values: np.ndarray, offsets: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """Mean of ``values`` over each frame; ``empty`` for frames without boxes."""
    counts = counts_from_offsets(offsets)
    sums = segment_sum(values, offsets)
    divisor = np.maximum(counts, 1).astype(sums.dtype).reshape((-1,) + (1,) * (sums.ndim - 1))
    sums /= divisor  # in place: (N, D) float32 for features
    sums[counts == 0] = empty
    return sums


def segment_max(values: np.ndarray, offsets: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """Maximum of ``values`` (K,) or (K, D) over each frame; ``empty`` for frames without boxes."""
    offsets = np.asarray(offsets, dtype=np.int64)
    if np.ndim(values) == 1:
        values = np.asarray(values, dtype=np.float64)
        out = np.full(len(offsets) - 1, empty, dtype=np.float64)
        nonempty = np.flatnonzero(np.diff(offsets) > 0)
        if len(nonempty):
            out[nonempty] = np.maximum.reduceat(values, offsets[nonempty])
        return out
    return _segment_max_2d(values, offsets, empty)


def segment_count(mask: np.ndarray, offsets: np.ndarray, labels: np.ndarray | None = None,
                  num_classes: int = 0) -> np.ndarray:
    """How many boxes of each frame satisfy ``mask`` (K,) bool: (N,) int64, or (N, C) per 1-based ``labels``."""
    frames = box_frame_index(offsets)
    n = len(offsets) - 1
    if labels is None:
        return np.bincount(frames[mask], minlength=n).astype(np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    keep = mask & (labels >= 1) & (labels <= num_classes)
    flat = frames[keep] * num_classes + (labels[keep] - 1)
    return np.bincount(flat, minlength=n * num_classes).reshape(n, num_classes).astype(np.int64)


def _segment_sum_2d(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    # a sparse 0/1 matrix (frames x rows) times the rows: 10x faster than torch's index_add_ and 30x faster than
    # np.add.reduceat along axis 0 (measured on 65k x 256 float16 chunks)
    n = len(offsets) - 1
    out = np.zeros((n, values.shape[1]), dtype=np.float32)
    for start, stop in frame_chunks(offsets):
        first, last = int(offsets[start]), int(offsets[stop])
        if last == first:
            continue
        block = np.asarray(values[first:last], dtype=np.float32)
        indicator = scipy.sparse.csr_matrix(
            (np.ones(last - first, dtype=np.float32), np.arange(last - first), offsets[start:stop + 1] - first),
            shape=(stop - start, last - first))
        out[start:stop] = indicator @ block
    return out


def frame_chunks(offsets: np.ndarray, rows: int = CHUNK_ROWS):
    """``(start, stop)`` ranges of whole frames holding about ``rows`` rows each (at least one frame)."""
    n = len(offsets) - 1
    start = 0
    while start < n:
        stop = int(np.searchsorted(offsets, offsets[start] + rows, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        yield start, stop
        start = stop


def _segment_max_2d(values: np.ndarray, offsets: np.ndarray, empty: float) -> np.ndarray:
    out = np.full((len(offsets) - 1, values.shape[1]), empty, dtype=np.float32)
    for start, stop in frame_chunks(offsets):
        first, last = int(offsets[start]), int(offsets[stop])
        local = offsets[start:stop + 1] - first
        nonempty = np.flatnonzero(np.diff(local) > 0)
        if len(nonempty):
            block = np.asarray(values[first:last], dtype=np.float32)
            out[start + nonempty] = np.maximum.reduceat(block, local[nonempty], axis=0)
    return out


def gather_rows(offsets: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of frames ``positions`` (M,) in that order, and their offsets (M + 1,) in the gathered array."""
    offsets = np.asarray(offsets, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    starts, counts = offsets[positions], offsets[positions + 1] - offsets[positions]
    new_offsets = np.concatenate(([0], np.cumsum(counts)))
    rows = np.repeat(starts - new_offsets[:-1], counts) + np.arange(new_offsets[-1])
    return rows, new_offsets
