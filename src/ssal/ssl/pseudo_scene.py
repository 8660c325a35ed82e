"""Pseudo-scenes (SPEC 3.4): an object-free background plus confident objects and unlabelled hard negatives.

``compose_pseudo_scene`` is a pure function of the database, the stage settings and a generator: the caller
keys the generator by (seed, epoch, item), so scenes differ from epoch to epoch and do not depend on the number
of loader workers. The database is only read.

Rules:

* a background drawn uniformly from every background of the database (labelled and pool frames);
* groups in class order, positives first (``sample_groups``), then ``BACK_<class>`` (``back_groups``); each
  draws without replacement from its pool (GT and pseudo objects of the class; BACK objects);
* a candidate is rejected if it overlaps (BEV IoU > 0) a box already placed, and both members of a candidate
  pair with BEV IoU >= ``candidate_iou`` are rejected; objects keep their recorded pose (x, y, heading);
* kept boxes are set on the ground of the **background's** frame (its plane file, else a fit of its points,
  stored with the background), their points moved with them;
* background points inside kept boxes are removed, object points added; BACK objects add points, never labels;
* a scene where nothing was placed is redrawn (up to ``redraws`` times); if the database cannot give anything,
  the last background is returned without boxes rather than failing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssal.data.ground import ground_height
from ssal.geometry import boxes_iou_bev, points_in_boxes
from ssal.ssl.config import CpspStage
from ssal.ssl.database import CpspDatabase, back_name

__all__ = ["PseudoScene", "compose_pseudo_scene", "select_candidates"]


@dataclass
class PseudoScene:
    """points (N, F) float32; boxes (M, 7) and names (M,) are the labelled objects (no BACK); ``back_boxes``
    (B, 7) are the hard negatives placed (points only); ``attempts`` counts draws (1 = no redraw)."""

    frame_id: str
    points: np.ndarray
    boxes: np.ndarray
    names: np.ndarray
    back_boxes: np.ndarray
    attempts: int


def select_candidates(candidates: np.ndarray, placed: np.ndarray, candidate_iou: float) -> np.ndarray:
    """bool (n,): the candidates (n, 7) overlapping no ``placed`` box (BEV IoU > 0) and no other candidate by
    BEV IoU >= ``candidate_iou`` (both of such a pair are dropped)."""
    if len(candidates) == 0:
        return np.zeros(0, dtype=bool)
    among = _bev_iou_near(candidates, candidates, same=True)
    clash = (among >= candidate_iou).any(axis=1) if candidate_iou > 0 else (among > 0).any(axis=1)
    if len(placed):
        clash |= (_bev_iou_near(candidates, placed) > 0).any(axis=1)
    return ~clash


def _bev_iou_near(a: np.ndarray, b: np.ndarray, same: bool = False) -> np.ndarray:
    """BEV IoU (n, m) of boxes a (n, 7) and b (m, 7), computed only for pairs whose enclosing circles meet (the
    others cannot overlap): most pairs of a scene are far apart, and the rotated IoU is the composer's cost.
    ``same``: a is b, the diagonal is 0."""
    radius_a, radius_b = np.hypot(a[:, 3], a[:, 4]) / 2, np.hypot(b[:, 3], b[:, 4]) / 2
    distance = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    near = distance < radius_a[:, None] + radius_b[None, :]
    if same:
        np.fill_diagonal(near, False)
    iou = np.zeros(near.shape, dtype=np.float32)
    rows, cols = np.flatnonzero(near.any(axis=1)), np.flatnonzero(near.any(axis=0))
    if len(rows):
        block = boxes_iou_bev(torch.from_numpy(np.array(a[rows, :7], np.float32)),
                              torch.from_numpy(np.array(b[cols, :7], np.float32))).numpy()
        iou[np.ix_(rows, cols)] = np.where(near[np.ix_(rows, cols)], block, 0.0)
    return iou


def _groups(stage: CpspStage) -> list[tuple[str, int]]:
    positives = [(c, stage.sample_groups.get(c, 0)) for c in stage.classes]
    negatives = [(back_name(c), stage.back_groups.get(c, 0)) for c in stage.classes]
    return [(name, n) for name, n in positives + negatives if n > 0]


def _draw_objects(database: CpspDatabase, stage: CpspStage, rng: np.random.Generator):
    placed_boxes = np.zeros((0, 7), np.float32)
    chosen: list[tuple[str, int]] = []
    for name, count in _groups(stage):
        size = database.pool_size(name)
        if size == 0:
            continue
        picks = rng.choice(size, size=min(count, size), replace=False)
        candidates = database.boxes(name, picks)
        keep = select_candidates(candidates, placed_boxes, stage.candidate_iou)
        chosen += [(name, int(i)) for i, ok in zip(picks, keep) if ok]
        placed_boxes = np.concatenate((placed_boxes, candidates[keep]))
    return chosen


def compose_pseudo_scene(database: CpspDatabase, stage: CpspStage, rng: np.random.Generator) -> PseudoScene:
    """One pseudo-scene drawn with ``rng`` (see the module rules)."""
    if database.num_backgrounds() == 0:
        raise ValueError("the CPSP database has no background to compose a scene on")
    attempts = 0
    while True:
        attempts += 1
        frame_id, background, plane = database.background(int(rng.integers(database.num_backgrounds())))
        chosen = _draw_objects(database, stage, rng)
        if chosen or attempts >= stage.redraws:
            break
    objects = [database.object(name, index) for name, index in chosen]
    boxes = np.stack([o.box for o in objects]).astype(np.float32) if objects else np.zeros((0, 7), np.float32)
    if plane is not None and len(boxes):
        boxes[:, 2] = ground_height(plane, boxes[:, :2].astype(np.float64)) + boxes[:, 5] / 2
    inside = points_in_boxes(torch.from_numpy(np.ascontiguousarray(background[:, :3])),
                             torch.from_numpy(boxes)).any(dim=1).numpy() if len(boxes) else np.zeros(len(background),
                                                                                                         bool)
    pieces = [background[~inside]]
    for obj, box in zip(objects, boxes):
        moved = obj.points[:, : background.shape[1]].copy()
        moved[:, :3] += box[:3]  # box-centred points follow the box onto this background's ground
        pieces.append(moved)
    back = np.array([o.kind == "back" for o in objects], dtype=bool)
    names = np.array([o.name for o in objects], dtype="<U16")
    return PseudoScene(frame_id, np.concatenate(pieces).astype(np.float32), boxes[~back], names[~back],
                       boxes[back], attempts)
