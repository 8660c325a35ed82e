"""From true-positive scores to average precision, the devkit's way.

1. Score thresholds (``score_thresholds``): the true-positive scores, sorted descending, are walked while a
   target recall climbs in steps of 1/40 from 0; a score is kept when its recall ``(i + 1) / n_gt`` is the
   closest approximation of the current target, and the last score is always kept. At most 41 thresholds.
2. Precision (and orientation similarity) at each threshold, stored into 41 recall slots, slots past the last
   threshold staying 0, then made non-increasing by taking the maximum to the right.
3. AP R11 = mean of slots 0, 4, ..., 40 (recall 0 included); AP R40 = mean of slots 1..40.

Consequence worth knowing (tests rely on it): with n < 40 valid ground truth, perfect detections fill slots
0..n-1 only, so R40 = (n - 1) / 40, e.g. 8 valid cars give 17.5, not 100.
"""

from __future__ import annotations

import numpy as np

N_SAMPLE_POINTS = 41


def score_thresholds(tp_scores: np.ndarray, num_valid_gt: int) -> np.ndarray:
    """Score thresholds (T,), T <= 41, from the true-positive scores (K,) of one class/difficulty/metric."""
    scores = np.sort(np.asarray(tp_scores, dtype=np.float64))[::-1]
    n = len(scores)
    if n == 0:
        return scores
    index = np.arange(n)
    left = (index + 1) / float(num_valid_gt)
    right = np.append((index[:-1] + 2) / float(num_valid_gt), left[-1])
    thresholds, current, i = [], 0.0, 0
    while i < n and len(thresholds) < N_SAMPLE_POINTS:
        skip = (right[i:] - current) < (current - left[i:])
        skip[-1] = False  # the last score is always kept
        i += int(np.argmax(~skip))
        thresholds.append(scores[i])
        current += 1.0 / (N_SAMPLE_POINTS - 1.0)  # accumulated, as the devkit does
        i += 1
    return np.asarray(thresholds)


def precision_curve(tp: np.ndarray, fp: np.ndarray, similarity: np.ndarray | None = None) -> tuple:
    """Precision (41,) and, with ``similarity``, orientation similarity (41,) per recall slot, made
    non-increasing. ``tp``, ``fp``, ``similarity``: (T,) totals at each threshold.

    Where a threshold has neither true nor false positives (possible only when every detection above it was
    absorbed by ignored ground truth) the devkit divides 0 by 0 and reports NaN; here that slot is 0.
    """
    detections = (tp + fp).astype(np.float64)
    precision = np.zeros(N_SAMPLE_POINTS)
    precision[: len(tp)] = _safe_divide(tp, detections)
    aos = None
    if similarity is not None:
        aos = np.zeros(N_SAMPLE_POINTS)
        aos[: len(tp)] = _safe_divide(similarity, detections)
        aos = np.maximum.accumulate(aos[::-1])[::-1]
    return np.maximum.accumulate(precision[::-1])[::-1], aos


def average_precision(curve: np.ndarray) -> dict[str, float]:
    """``{"R11": ..., "R40": ...}`` in percent from a 41-slot precision (or similarity) curve."""
    return {"R11": float(curve[0::4].sum() / 11 * 100), "R40": float(curve[1:].sum() / 40 * 100)}


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    positive = denominator > 0
    return np.where(positive, numerator / np.where(positive, denominator, 1.0), 0.0)
