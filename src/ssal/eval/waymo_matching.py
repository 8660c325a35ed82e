"""Waymo's matching of one class at every score cutoff: per frame, the predictions scoring at least the cutoff
are matched one-to-one to the ground truth by the Hungarian algorithm, maximising the sum of IoUs quantised to
integers (``round(iou * 1e6)``) over the pairs with IoU >= the class threshold (other pairs weigh 0 and are
never a match). Scores play no part in the matching itself.

The predictions present at cutoff k are those with ``score >= cutoff[k]``, a set that only shrinks as k grows.
Most frames are trivial: every matchable prediction overlaps one ground truth and vice versa, so a pair is
matched exactly while its prediction is present; those pairs are counted for all frames at once. Frames where
a prediction or a ground truth has two matchable partners are solved with ``linear_sum_assignment`` once per
distinct set of present predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

# Waymo's configuration as OpenPCDet and the leaderboard use it: cutoffs 0, 0.01, ..., 0.99, 1 (float32).
SCORE_CUTOFFS = np.array([k * 0.01 for k in range(100)] + [1.0], dtype=np.float32)
_QUANTUM = 1_000_000


@dataclass(frozen=True)
class MatchablePairs:
    """Prediction/ground-truth pairs of one class with IoU at or above its threshold (E pairs)."""

    pred: np.ndarray  # (E,) prediction index
    gt: np.ndarray  # (E,) ground truth index
    frame: np.ndarray  # (E,) frame index, sorted
    iou: np.ndarray  # (E,) float32
    heading_accuracy: np.ndarray  # (E,) float64 in [0, 1]


@dataclass(frozen=True)
class CutoffCounts:
    """Totals over all frames at each of C score cutoffs."""

    predictions: np.ndarray  # (C,) predictions present
    tp: np.ndarray  # (C,) matched predictions
    sum_ha: np.ndarray  # (C,) sum of heading accuracies of the matched pairs
    matched_level1: np.ndarray  # (C,) matched ground truth of LEVEL_1
    matched: np.ndarray  # (C,) matched ground truth of any level


def cutoff_index(scores: np.ndarray) -> np.ndarray:
    """(P,) the last cutoff each prediction is present at (-1: none), i.e. ``score >= SCORE_CUTOFFS[k]``."""
    return np.searchsorted(SCORE_CUTOFFS, scores.astype(np.float32), side="right") - 1


def count_matches(pairs: MatchablePairs, last_cutoff: np.ndarray, gt_level: np.ndarray) -> CutoffCounts:
    """Counts at every cutoff from the matchable pairs, each prediction's last cutoff (P,) and each ground
    truth's level (G,) (1 or 2)."""
    size = len(SCORE_CUTOFFS)
    predictions = _present_from(last_cutoff, np.ones(len(last_cutoff)), size)
    tp, sum_ha, level1, matched = (np.zeros(size + 1) for _ in range(4))  # difference arrays
    crowded = _crowded_frames(pairs)
    simple = ~np.isin(pairs.frame, crowded)
    last = last_cutoff[pairs.pred[simple]]
    for total, weight in ((tp, 1.0), (sum_ha, pairs.heading_accuracy[simple]),
                          (level1, gt_level[pairs.gt[simple]] == 1), (matched, 1.0)):
        _add_segments(total, np.zeros_like(last), last, weight)
    for frame in crowded:
        _match_crowded_frame(pairs, pairs.frame == frame, last_cutoff, gt_level, (tp, sum_ha, level1, matched))
    tp, sum_ha, level1, matched = (np.cumsum(d)[:size] for d in (tp, sum_ha, level1, matched))
    return CutoffCounts(predictions=predictions.astype(np.int64), tp=np.rint(tp).astype(np.int64), sum_ha=sum_ha,
                        matched_level1=np.rint(level1).astype(np.int64), matched=np.rint(matched).astype(np.int64))


def _crowded_frames(pairs: MatchablePairs) -> np.ndarray:
    """Frames where some prediction or ground truth has more than one matchable partner."""
    _, pred_inverse, pred_count = np.unique(pairs.pred, return_inverse=True, return_counts=True)
    _, gt_inverse, gt_count = np.unique(pairs.gt, return_inverse=True, return_counts=True)
    shared = (pred_count[pred_inverse.reshape(-1)] > 1) | (gt_count[gt_inverse.reshape(-1)] > 1)
    return np.unique(pairs.frame[shared])


def _match_crowded_frame(pairs: MatchablePairs, mask: np.ndarray, last_cutoff, gt_level, totals) -> None:
    """Hungarian matching of one frame for every distinct set of present predictions; adds to ``totals``."""
    preds, pred_local = np.unique(pairs.pred[mask], return_inverse=True)
    gts, gt_local = np.unique(pairs.gt[mask], return_inverse=True)
    weight = np.zeros((len(preds), len(gts)), dtype=np.int64)
    weight[pred_local, gt_local] = np.floor(pairs.iou[mask].astype(np.float32) * np.float32(_QUANTUM) + 0.5)
    heading = np.zeros(weight.shape)
    heading[pred_local, gt_local] = pairs.heading_accuracy[mask]
    matchable = np.zeros(weight.shape, dtype=bool)
    matchable[pred_local, gt_local] = True
    last = last_cutoff[preds]
    start = 0
    for stop in np.unique(last[last >= 0]):  # cutoffs start..stop share the present set {last >= stop}
        present = np.flatnonzero(last >= stop)
        rows, cols = linear_sum_assignment(weight[present], maximize=True)
        hit = matchable[present[rows], cols]
        rows, cols = present[rows[hit]], cols[hit]
        for total, value in zip(totals, (len(rows), heading[rows, cols].sum(),
                                         np.count_nonzero(gt_level[gts[cols]] == 1), len(rows))):
            total[start] += value
            total[stop + 1] -= value
        start = stop + 1


def _add_segments(diff: np.ndarray, start: np.ndarray, stop: np.ndarray, weight) -> None:
    """Add ``weight`` to every cutoff in [start, stop] (inclusive; skipped where stop < start) of a difference
    array."""
    weight = np.broadcast_to(np.asarray(weight, dtype=np.float64), start.shape)
    keep = stop >= start
    np.add.at(diff, start[keep], weight[keep])
    np.add.at(diff, stop[keep] + 1, -weight[keep])


def _present_from(last_cutoff: np.ndarray, weight: np.ndarray, size: int) -> np.ndarray:
    """(size,) at each cutoff k, the summed weight of the items with ``last_cutoff >= k``."""
    keep = last_cutoff >= 0
    counts = np.bincount(last_cutoff[keep], weights=weight[keep], minlength=size)
    return np.cumsum(counts[::-1])[::-1]
