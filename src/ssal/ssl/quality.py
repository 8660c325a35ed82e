"""How good the pseudo-labels were: the evaluator's view, computed after the fact from the database on disk and
the pool's hidden labels (simulation only).

Per round (``pool_<r>``: 0 the initial build, r the r-th refresh) and per class c:

* ``precision``: pseudo objects of c that match a ground-truth box of c in their frame (BEV IoU >= ``match_iou[c]``,
  each ground-truth box matched once, higher scores first) / all pseudo objects of c;
* ``recall``: ground-truth boxes of c in the unlabelled frames so matched / all of them;
* ``back_true_negative_rate``: BACK_<c> objects overlapping no ground-truth box of any configured class by BEV
  IoU >= ``back_iou`` / all BACK_<c> objects (a BACK object on a real object teaches the model to miss it).

This module is the only part of ``ssal.ssl`` that reads the pool's labels, and only after training; the database
builders, the refresh and the training set never import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ssal.atomic import atomic_write_json
from ssal.geometry import boxes_iou_bev
from ssal.ssl.database import BACK_PREFIX, DatabasePart, pool_part_name

__all__ = ["pseudo_label_quality", "default_match_iou", "write_quality"]


def default_match_iou(classes: Sequence[str]) -> dict[str, float]:
    """KITTI's evaluation overlaps: 0.7 for cars and vehicles, 0.5 for the others."""
    return {c: 0.7 if c in ("Car", "Vehicle") else 0.5 for c in classes}


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    return boxes_iou_bev(torch.from_numpy(np.array(a, np.float32)),
                         torch.from_numpy(np.array(b, np.float32))).numpy()


def _greedy_matches(iou: np.ndarray, scores: np.ndarray, threshold: float) -> int:
    used = np.zeros(iou.shape[1], dtype=bool)
    hits = 0
    for row in np.argsort(-scores, kind="stable"):
        free = np.where(used, -1.0, iou[row])
        best = int(np.argmax(free)) if len(free) else -1
        if best >= 0 and free[best] >= threshold:
            used[best] = True
            hits += 1
    return hits


def _part_quality(part: DatabasePart, truth: dict[str, tuple[np.ndarray, np.ndarray]], classes: Sequence[str],
                  match_iou: dict[str, float], back_iou: float) -> dict:
    objects = part.objects
    frame_ids = objects["frame_id"] if part.num_objects() else np.zeros(0, str)
    stats = {c: {"pseudo": 0, "true_positives": 0, "ground_truth": 0, "back": 0, "back_true_negatives": 0}
             for c in classes}
    for frame_id, (gt_boxes, gt_names) in truth.items():
        rows = np.flatnonzero(frame_ids == frame_id)
        target = np.isin(gt_names, list(classes))
        for cls in classes:
            own = gt_boxes[gt_names == cls]
            stats[cls]["ground_truth"] += len(own)
            pseudo = rows[(objects["name"][rows] == cls) & (objects["kind"][rows] == "pseudo")] if len(rows) else rows
            stats[cls]["pseudo"] += len(pseudo)
            stats[cls]["true_positives"] += _greedy_matches(_iou(objects["box"][pseudo], own),
                                                            objects["score"][pseudo], match_iou[cls])
            back = rows[objects["name"][rows] == BACK_PREFIX + cls] if len(rows) else rows
            stats[cls]["back"] += len(back)
            overlap = _iou(objects["box"][back], gt_boxes[target])
            stats[cls]["back_true_negatives"] += int((overlap < back_iou).all(axis=1).sum()) if len(back) else 0
    for values in stats.values():
        values["precision"] = values["true_positives"] / values["pseudo"] if values["pseudo"] else None
        values["recall"] = values["true_positives"] / values["ground_truth"] if values["ground_truth"] else None
        values["back_true_negative_rate"] = (values["back_true_negatives"] / values["back"]) if values["back"] \
            else None
    return stats


def pseudo_label_quality(database_root: str | Path, labelled_infos, classes: Sequence[str],
                         match_iou: dict[str, float] | None = None, back_iou: float = 0.25) -> dict:
    """Quality of every complete round of the database against ``labelled_infos`` (the unlabelled frames *with*
    their hidden labels)."""
    root = Path(database_root)
    match_iou = match_iou or default_match_iou(classes)
    truth = {info.frame_id: (info.annos.gt_boxes_lidar[:, :7].astype(np.float32), info.annos.name)
             for info in labelled_infos}
    rounds = []
    index = 0
    while (root / pool_part_name(index) / "manifest.json").is_file():
        part = DatabasePart(root / pool_part_name(index))
        rounds.append({"round": index, "thresholds": part.manifest.get("thresholds", {}).get("high"),
                       "classes": _part_quality(part, truth, classes, match_iou, back_iou)})
        index += 1
    return {"kind": "ssal-cpsp-pseudo-label-quality", "version": 1, "frames": len(truth),
            "match_iou": match_iou, "back_iou": back_iou, "rounds": rounds}


def write_quality(path: str | Path, quality: dict) -> None:
    atomic_write_json(path, quality)
