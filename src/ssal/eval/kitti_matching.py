"""The devkit's greedy assignment of detections to ground truth, for all frames and score thresholds at once.

Within a frame the devkit visits ground truth in file order (left-out ground truth skipped) and gives each one
at most one detection among those not yet taken whose overlap is strictly above the minimum (left-out
detections never take part):

* when collecting recall scores (``recall_scores``): the candidate with the highest score (first in file order
  on ties), ignoring score thresholds;
* when counting at a score threshold (``counts_at_thresholds``): only detections scoring at least the threshold
  take part; the valid candidate (state 0) with the largest overlap wins (first on ties); only when there is
  none, the first too-short candidate (state 1).

A pair is a true positive when both sides are valid; otherwise the detection is just taken (neither true nor
false positive, and the ground truth is not a miss). Each frame needs at most one step per ground truth, and the
frames are independent, so step k processes the k-th matchable ground truth of every frame together, with the
score thresholds as a second axis: the Python loop runs over "k", a handful of times, never over boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssal.eval.kitti_protocol import VALID


@dataclass(frozen=True)
class Candidates:
    """Matchable pairs of one class, difficulty, metric and minimum overlap (E edges), rows into the flat
    ground truth and detections."""

    gt: np.ndarray  # (E,) int64
    det: np.ndarray  # (E,) int64
    overlap: np.ndarray  # (E,) float64


@dataclass(frozen=True)
class ThresholdCounts:
    """Totals over all frames at each of T score thresholds."""

    tp: np.ndarray  # (T,) int64 true positives
    fp: np.ndarray  # (T,) int64 false positives (DontCare-absorbed ones removed)
    similarity: np.ndarray  # (T,) float64 sum of (1 + cos(alpha_gt - alpha_det)) / 2 over true positives


def select_candidates(
    gt: np.ndarray, det: np.ndarray, overlap: np.ndarray, min_overlap: float, gt_state: np.ndarray,
    det_state: np.ndarray,
) -> Candidates:
    """Keep the pairs (E,) with ``overlap > min_overlap`` whose two sides both take part (state != -1)."""
    keep = (overlap > min_overlap) & (gt_state[gt] >= 0) & (det_state[det] >= 0)
    return Candidates(gt=gt[keep], det=det[keep], overlap=overlap[keep])


def recall_scores(
    candidates: Candidates, gt_frame: np.ndarray, gt_state: np.ndarray, det_state: np.ndarray, det_score: np.ndarray
) -> np.ndarray:
    """Scores (K,) of the true positives when each ground truth takes its highest-scoring candidate."""
    local, det_rows = _local_detections(candidates.det)
    preference = (candidates.det, -det_score[candidates.det])
    group_gt, choice, _ = _greedy(candidates, gt_frame, local, preference, np.ones((1, len(det_rows)), bool))
    hit = choice[0] >= 0
    rows = det_rows[choice[0, hit]]
    true = (gt_state[group_gt[hit]] == VALID) & (det_state[rows] == VALID)
    return det_score[rows[true]]


def counts_at_thresholds(
    candidates: Candidates, thresholds: np.ndarray, gt_frame: np.ndarray, gt_state: np.ndarray,
    det_state: np.ndarray, det_score: np.ndarray, gt_alpha: np.ndarray, det_alpha: np.ndarray,
    dontcare_hit: np.ndarray,
) -> ThresholdCounts:
    """True/false positives and orientation similarity at each score threshold (T,).

    ``dontcare_hit`` (D,) marks detections that a DontCare region would absorb if left unassigned.
    """
    local, det_rows = _local_detections(candidates.det)
    valid_candidate = det_state[candidates.det] == VALID
    preference = (candidates.det, np.where(valid_candidate, -candidates.overlap, 0.0), ~valid_candidate)
    allowed = det_score[det_rows][None, :] >= thresholds[:, None]
    group_gt, choice, assigned = _greedy(candidates, gt_frame, local, preference, allowed)

    hit = choice >= 0
    rows = det_rows[np.where(hit, choice, 0)]
    true = hit & (gt_state[group_gt][None, :] == VALID) & (det_state[rows] == VALID)
    cosine = np.cos(gt_alpha[group_gt][None, :] - det_alpha[rows])
    similarity = np.where(true, (1.0 + cosine) / 2.0, 0.0).sum(axis=1)

    countable = (det_state == VALID) & ~dontcare_hit
    scores = np.sort(det_score[countable])
    above = len(scores) - np.searchsorted(scores, thresholds, side="left")  # score >= threshold
    taken = (assigned & countable[det_rows][None, :]).sum(axis=1)
    return ThresholdCounts(tp=true.sum(axis=1), fp=above - taken, similarity=similarity)


def _local_detections(det: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The detections that appear in candidates: (E,) local index of each edge and (L,) their rows."""
    rows, local = np.unique(det, return_inverse=True)
    return local.reshape(-1), rows


def _greedy(
    candidates: Candidates, gt_frame: np.ndarray, local: np.ndarray, preference: tuple, allowed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the assignment for T settings at once.

    Args:
        preference: sort keys, least significant first (``numpy.lexsort``), ranking a ground truth's candidates.
        allowed: (T, L) whether each local detection may take part in setting t.

    Returns:
        group_gt (K,) the ground truth rows that have candidates, choice (T, K) the local detection each one took
        (-1: none), assigned (T, L) which detections were taken.
    """
    step = _step_in_frame(candidates.gt, gt_frame)
    order = np.lexsort((*preference, candidates.gt, step))
    gt, det, step = candidates.gt[order], local[order], step[order]
    assigned = np.zeros_like(allowed)
    bounds = np.searchsorted(step, np.arange(step.max() + 2 if len(step) else 1))
    groups, choices = [], []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        g, d = gt[lo:hi], det[lo:hi]
        starts = np.flatnonzero(np.concatenate(([True], g[1:] != g[:-1])))
        free = allowed[:, d] & ~assigned[:, d]  # (T, edges of this step)
        position = np.where(free, np.arange(hi - lo), hi - lo)
        first = np.minimum.reduceat(position, starts, axis=1)  # best free candidate per ground truth
        choice = np.where(first < hi - lo, d[np.minimum(first, hi - lo - 1)], -1)
        t, k = np.nonzero(choice >= 0)
        assigned[t, choice[t, k]] = True
        groups.append(g[starts])
        choices.append(choice)
    if not groups:
        return np.zeros(0, np.int64), np.full((len(allowed), 0), -1), assigned
    return np.concatenate(groups), np.concatenate(choices, axis=1), assigned


def _step_in_frame(gt: np.ndarray, gt_frame: np.ndarray) -> np.ndarray:
    """(E,) for each edge, the position of its ground truth among the frame's ground truth that have edges."""
    unique_gt, inverse = np.unique(gt, return_inverse=True)
    frame = gt_frame[unique_gt]
    first_of_frame = np.concatenate(([True], frame[1:] != frame[:-1]))
    index = np.arange(len(unique_gt))
    rank = index - np.maximum.accumulate(np.where(first_of_frame, index, 0))
    return rank[inverse.reshape(-1)]
