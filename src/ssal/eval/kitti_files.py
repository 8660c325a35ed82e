"""Ground truth and detections for the evaluation, read from a ``label_2`` folder and a folder of KITTI result
files (16 columns, the last one the score), one ``<frame id>.txt`` each.

Which frames: the ids listed in an ids file (``ImageSets/val.txt`` style, one per line), else every label file.
A frame without a result file has no detections (the devkit would stop; here it counts, and is reported).
Angles outside [-pi, pi) are wrapped into it; alpha = -10 is kept (the devkit's "no orientation").
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssal.data.kitti_label import KittiLabels, read_label_file
from ssal.data.text_files import read_id_list
from ssal.errors import SsalError
from ssal.eval.kitti import NO_ORIENTATION


@dataclass(frozen=True)
class EvalFrames:
    """Frames ready for ``evaluate_kitti``: ``gt[i]`` and ``pred[i]`` belong to ``ids[i]``."""

    ids: list[str]
    gt: list[KittiLabels]
    pred: list[KittiLabels]
    without_prediction: list[str]  # ids whose result file is missing (evaluated as "no detections")
    unused_predictions: list[str]  # result files with no ground truth among the evaluated frames


def read_frame_ids(path: str | os.PathLike) -> list[tuple[str, int]]:
    """Frame ids and their line numbers from a file with one id per line (blank lines skipped)."""
    ids = read_id_list(path)
    if not ids:
        raise SsalError("no frame ids in the file", path)
    return ids


def load_eval_frames(
    gt_dir: str | os.PathLike, pred_dir: str | os.PathLike, ids_file: str | os.PathLike | None = None
) -> EvalFrames:
    """Read the ground truth and detections of the frames to evaluate (see the module docstring)."""
    gt_dir, pred_dir = _folder(gt_dir, "ground truth"), _folder(pred_dir, "prediction")
    if ids_file is None:
        ids = sorted(path.stem for path in gt_dir.glob("*.txt"))
        if not ids:
            raise SsalError("no label files (*.txt) in the ground truth folder", gt_dir)
    else:
        ids = []
        for frame_id, number in read_frame_ids(ids_file):
            if not (gt_dir / f"{frame_id}.txt").is_file():
                raise SsalError(f"line {number}: no ground truth file {gt_dir / (frame_id + '.txt')}", ids_file)
            ids.append(frame_id)
    gt = [read_label_file(gt_dir / f"{frame_id}.txt", with_score=False) for frame_id in ids]
    pred, missing = [], []
    for frame_id in ids:
        path = pred_dir / f"{frame_id}.txt"
        if path.is_file():
            pred.append(normalise_angles(read_label_file(path, with_score=True)))
        else:
            missing.append(frame_id)
            pred.append(no_detections())
    unused = sorted(set(path.stem for path in pred_dir.glob("*.txt")) - set(ids))
    return EvalFrames(ids=ids, gt=gt, pred=pred, without_prediction=missing, unused_predictions=unused)


def no_detections() -> KittiLabels:
    """An empty detection list (with its empty score column)."""
    return KittiLabels(score=np.zeros(0))


def normalise_angles(labels: KittiLabels) -> KittiLabels:
    """``rotation_y`` and alpha wrapped into [-pi, pi); alpha = -10 left as it is."""
    alpha = np.where(labels.alpha == NO_ORIENTATION, labels.alpha, _wrap(labels.alpha))
    return KittiLabels(
        name=labels.name, truncated=labels.truncated, occluded=labels.occluded, alpha=alpha, bbox=labels.bbox,
        dimensions=labels.dimensions, location=labels.location, rotation_y=_wrap(labels.rotation_y),
        score=np.zeros(0) if labels.score is None else labels.score,
    )


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _folder(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise SsalError(f"{what} folder not found", path)
    return path
