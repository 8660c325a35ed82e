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

IoUs come from ``ssal.geometry.boxes_iou_bev``, for a few hundred frames at a time: each frame's boxes are
moved 1 km apart along x (float64, so nothing is lost), which makes pairs from different frames disjoint and
lets one call serve the whole chunk.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from ssal.active.config import CalConfig
from ssal.active.outputs import PoolOutputs
from ssal.active.segments import gather_rows
from ssal.geometry import boxes_iou_bev

FRAME_SPACING = 1000.0  # metres between frames inside one IoU call
CHUNK_FRAMES = 32  # measured: larger chunks make the sweep in boxes_iou_bev cost more than they save


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
         cfg: CalConfig) -> FusedPredictions:
    """Fuse ``own`` frames ``own_positions`` with the same frames of ``partner`` (``partner_positions``)."""
    base = own_predictions(own, own_positions)
    other = own_predictions(partner, partner_positions)
    parts = []
    with _one_thread():
        for start in range(0, len(own_positions), CHUNK_FRAMES):
            stop = min(start + CHUNK_FRAMES, len(own_positions))
            parts.append(_fuse_chunk(_slice(base, start, stop), _slice(other, start, stop), cfg))
    return _concatenate(parts)


@contextlib.contextmanager
def _one_thread():
    """The IoU calls here work on a few hundred boxes: intra-op threads only add synchronisation, which on a busy
    machine made fusion 30x slower (measured: 32 s instead of 1 s for 8k frames on 2 shared cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fuse_chunk(p: FusedPredictions, a: FusedPredictions, cfg: CalConfig) -> FusedPredictions:
    frames_p = np.repeat(np.arange(len(p.offsets) - 1), np.diff(p.offsets))
    frames_a = np.repeat(np.arange(len(a.offsets) - 1), np.diff(a.offsets))
    iou = _chunk_iou(p.boxes, frames_p, a.boxes, frames_a)  # (kp, ka), zero across frames
    boxes, scores, labels = p.boxes.copy(), p.scores.copy(), p.labels.copy()
    reliable = iou.max(axis=1, initial=0.0) > cfg.reliable_iou
    from_partner = np.zeros(len(scores), dtype=bool)

    strong = np.flatnonzero(a.scores > cfg.partner_score)
    if len(strong) and len(scores):
        best = iou[:, strong].argmax(axis=0)
        matched = iou[best, strong] > cfg.match_iou
    else:
        best = np.zeros(len(strong), dtype=np.int64)
        matched = np.zeros(len(strong), dtype=bool)
    # the best-scoring matched partner box of each own box replaces it if it scores higher
    m_idx, m_own = strong[matched], best[matched]
    order = np.lexsort((-a.scores[m_idx], m_own))
    first = np.ones(len(order), dtype=bool)
    first[1:] = m_own[order][1:] != m_own[order][:-1]
    winners, targets = m_idx[order][first], m_own[order][first]
    replace = a.scores[winners] > scores[targets]
    winners, targets = winners[replace], targets[replace]
    boxes[targets], scores[targets], labels[targets] = a.boxes[winners], a.scores[winners], a.labels[winners]
    reliable[targets] = True
    from_partner[targets] = True

    appended = strong[~matched]
    appended = appended[a.scores[appended] > cfg.append_score]
    frames = np.concatenate((frames_p, frames_a[appended]))
    order = np.argsort(frames, kind="stable")  # own boxes first, then the appended ones, frame by frame
    counts = np.bincount(frames, minlength=len(p.offsets) - 1)
    return FusedPredictions(
        np.concatenate(([0], np.cumsum(counts))),
        np.concatenate((boxes, a.boxes[appended]))[order], np.concatenate((scores, a.scores[appended]))[order],
        np.concatenate((labels, a.labels[appended]))[order],
        np.concatenate((reliable, np.ones(len(appended), dtype=bool)))[order],
        np.concatenate((from_partner, np.ones(len(appended), dtype=bool)))[order])


def _chunk_iou(boxes_p: np.ndarray, frames_p: np.ndarray, boxes_a: np.ndarray, frames_a: np.ndarray) -> np.ndarray:
    if len(boxes_p) == 0 or len(boxes_a) == 0:
        return np.zeros((len(boxes_p), len(boxes_a)))
    shifted_p, shifted_a = boxes_p.copy(), boxes_a.copy()
    shifted_p[:, 0] += frames_p * FRAME_SPACING
    shifted_a[:, 0] += frames_a * FRAME_SPACING
    iou = boxes_iou_bev(torch.from_numpy(shifted_p), torch.from_numpy(shifted_a)).numpy()
    return np.where(frames_p[:, None] == frames_a[None, :], iou, 0.0)


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
