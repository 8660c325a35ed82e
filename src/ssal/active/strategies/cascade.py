"""The model cascade of CAL: the CPSP model's predictions P checked against a normally trained partner's A.

Per frame (SPEC 4.1):

* partner boxes scoring above ``partner_score`` (0.5) are considered; each matches the own box it overlaps most
  if that BEV IoU exceeds ``match_iou`` (0.5), and then replaces that box (box, score and label) when it scores
  higher; when several match one own box the best scoring one is the candidate. An unmatched partner box scoring
  above ``append_score`` (0.8) is appended; this also happens in frames where the own model found nothing;
* an own box is *reliable* when some partner box (of any score) overlaps it by a BEV IoU above ``reliable_iou``
  (0.2); replaced and appended boxes come from the partner and are reliable. In a frame where the partner finds
  nothing, no own box is confirmed, so none is reliable (the original treated all as reliable there).

Without a partner the own predictions are used as they are, all reliable.

IoUs come from ``ssal.geometry.boxes_iou_bev`` on row-wise pairs: only own/partner pairs of the same frame whose
enclosing circles meet are computed. Frames are fused in chunks holding at most ``MAX_PAIRS`` candidate pairs
(own boxes x partner boxes of each frame), so memory stays bounded however many boxes a frame has (a Waymo frame
with 100 boxes per model has 10,000 pairs; KITTI frames a few dozen).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssal.active.config import CalConfig
from ssal.active.outputs import PoolOutputs
from ssal.active.segments import gather_rows
from ssal.geometry import boxes_iou_bev

MAX_PAIRS = 1 << 20  # candidate pairs per chunk: ~1M pairs, about 100 MB of temporaries before the circle test


@dataclass
class FusedPredictions:
    """Predictions of M frames after fusion, back to back (``offsets`` (M + 1,)).

    Attributes:
        boxes: (K, 7); scores: (K,); labels: (K,) 1-based.
        reliable: (K,) confirmed by the partner (all True without one).
        from_partner: (K,) the row is a partner box (replaced or appended).
    """

    offsets: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    reliable: np.ndarray
    from_partner: np.ndarray


def own_predictions(own: PoolOutputs, positions: np.ndarray) -> FusedPredictions:
    """The own model's predictions of frames ``positions`` as they are (no partner: every box reliable)."""
    rows, offsets = gather_rows(own.offsets, positions)
    count = len(rows)
    return FusedPredictions(offsets, np.asarray(own.boxes[rows], dtype=np.float64),
                            np.asarray(own.scores[rows], dtype=np.float64), np.asarray(own.labels[rows], np.int64),
                            np.ones(count, dtype=bool), np.zeros(count, dtype=bool))


def fuse(own: PoolOutputs, own_positions: np.ndarray, partner: PoolOutputs, partner_positions: np.ndarray,
         cfg: CalConfig, max_pairs: int = MAX_PAIRS) -> FusedPredictions:
    """Fuse ``own`` frames ``own_positions`` with the same frames of ``partner`` (``partner_positions``)."""
    base = own_predictions(own, own_positions)
    other = own_predictions(partner, partner_positions)
    pairs = np.diff(base.offsets) * np.diff(other.offsets)
    parts = [_fuse_chunk(_slice(base, start, stop), _slice(other, start, stop), cfg)
             for start, stop in pair_chunks(pairs, max_pairs)]
    return _concatenate(parts)


def pair_chunks(pairs_per_frame: np.ndarray, max_pairs: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` consecutive frame ranges covering every frame, each holding at most ``max_pairs``
    pairs, except a single frame that alone holds more (it gets a chunk of its own)."""
    bounds, start, held = [], 0, 0
    for index, pairs in enumerate(np.asarray(pairs_per_frame, dtype=np.int64).tolist()):
        if index > start and held + pairs > max_pairs:
            bounds.append((start, index))
            start, held = index, 0
        held += pairs
    if len(pairs_per_frame) > start:
        bounds.append((start, len(pairs_per_frame)))
    return bounds


def _fuse_chunk(p: FusedPredictions, a: FusedPredictions, cfg: CalConfig) -> FusedPredictions:
    frames_p = np.repeat(np.arange(len(p.offsets) - 1), np.diff(p.offsets))
    frames_a = np.repeat(np.arange(len(a.offsets) - 1), np.diff(a.offsets))
    pair_p, pair_a, iou = _overlapping_pairs(p, frames_p, a, frames_a)
    boxes, scores, labels = p.boxes.copy(), p.scores.copy(), p.labels.copy()
    reliable = np.zeros(len(scores), dtype=bool)
    reliable[pair_p[iou > cfg.reliable_iou]] = True
    from_partner = np.zeros(len(scores), dtype=bool)

    strong = a.scores > cfg.partner_score
    best_own, best_iou = _best_match(pair_p, pair_a, iou, strong, len(a.scores))
    matched = strong & (best_iou > cfg.match_iou)
    # the best-scoring matched partner box of each own box replaces it if it scores higher
    m_idx = np.flatnonzero(matched)
    m_own = best_own[m_idx]
    order = np.lexsort((-a.scores[m_idx], m_own))
    first = np.ones(len(order), dtype=bool)
    first[1:] = m_own[order][1:] != m_own[order][:-1]
    winners, targets = m_idx[order][first], m_own[order][first]
    replace = a.scores[winners] > scores[targets]
    winners, targets = winners[replace], targets[replace]
    boxes[targets], scores[targets], labels[targets] = a.boxes[winners], a.scores[winners], a.labels[winners]
    reliable[targets] = True
    from_partner[targets] = True

    appended = np.flatnonzero(strong & ~matched & (a.scores > cfg.append_score))
    frames = np.concatenate((frames_p, frames_a[appended]))
    order = np.argsort(frames, kind="stable")  # own boxes first, then the appended ones, frame by frame
    counts = np.bincount(frames, minlength=len(p.offsets) - 1)
    return FusedPredictions(
        np.concatenate(([0], np.cumsum(counts))),
        np.concatenate((boxes, a.boxes[appended]))[order], np.concatenate((scores, a.scores[appended]))[order],
        np.concatenate((labels, a.labels[appended]))[order],
        np.concatenate((reliable, np.ones(len(appended), dtype=bool)))[order],
        np.concatenate((from_partner, np.ones(len(appended), dtype=bool)))[order])


def _overlapping_pairs(p: FusedPredictions, frames_p: np.ndarray, a: FusedPredictions, frames_a: np.ndarray):
    """(own index, partner index, BEV IoU > 0) of box pairs within the same frame."""
    per_own = np.diff(a.offsets)[frames_p]  # partner boxes in each own box's frame
    total = int(per_own.sum())
    pair_p = np.repeat(np.arange(len(frames_p)), per_own)
    starts = np.repeat(np.cumsum(per_own) - per_own, per_own)
    pair_a = np.repeat(a.offsets[frames_p], per_own) + np.arange(total) - starts
    # only pairs whose enclosing circles meet can overlap
    radius_p, radius_a = 0.5 * np.hypot(p.boxes[:, 3], p.boxes[:, 4]), 0.5 * np.hypot(a.boxes[:, 3], a.boxes[:, 4])
    gap = np.hypot(*(p.boxes[pair_p, :2] - a.boxes[pair_a, :2]).T)
    near = gap < radius_p[pair_p] + radius_a[pair_a]
    pair_p, pair_a = pair_p[near], pair_a[near]
    if not len(pair_p):
        return pair_p, pair_a, np.zeros(0)
    iou = boxes_iou_bev(torch.from_numpy(p.boxes[pair_p]), torch.from_numpy(a.boxes[pair_a]), aligned=True).numpy()
    keep = iou > 0
    return pair_p[keep], pair_a[keep], iou[keep]


def _best_match(pair_p: np.ndarray, pair_a: np.ndarray, iou: np.ndarray, strong: np.ndarray, count: int):
    """For every partner box, the own box it overlaps most (-1 if none) and that IoU (0 if none), for the
    ``strong`` ones; ties go to the first own box."""
    best_own, best_iou = np.full(count, -1, dtype=np.int64), np.zeros(count)
    keep = strong[pair_a]
    pair_p, pair_a, iou = pair_p[keep], pair_a[keep], iou[keep]
    order = np.lexsort((pair_p, -iou, pair_a))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pair_a[order][1:] != pair_a[order][:-1]
    best_own[pair_a[order][first]] = pair_p[order][first]
    best_iou[pair_a[order][first]] = iou[order][first]
    return best_own, best_iou


def _slice(f: FusedPredictions, start: int, stop: int) -> FusedPredictions:
    rows = slice(int(f.offsets[start]), int(f.offsets[stop]))
    return FusedPredictions(f.offsets[start:stop + 1] - f.offsets[start], f.boxes[rows], f.scores[rows],
                            f.labels[rows], f.reliable[rows], f.from_partner[rows])


def _concatenate(parts: list[FusedPredictions]) -> FusedPredictions:
    if not parts:
        return FusedPredictions(np.zeros(1, dtype=np.int64), np.zeros((0, 7)), np.zeros(0), np.zeros(0, np.int64),
                                np.zeros(0, bool), np.zeros(0, bool))
    counts = np.concatenate([np.diff(p.offsets) for p in parts])
    return FusedPredictions(np.concatenate(([0], np.cumsum(counts))),
                            *(np.concatenate([getattr(p, name) for p in parts])
                              for name in ("boxes", "scores", "labels", "reliable", "from_partner")))
