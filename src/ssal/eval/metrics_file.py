"""``metrics.json``: the one file that ``ssal evaluate`` (``OUT/metrics.json``), ``ssal demo``
(``OUT/eval/metrics.json``) and ``ssal eval kitti --json FILE`` write.

Shape: the evaluator's table at the top level, exactly as ``evaluate_kitti`` or ``evaluate_waymo`` returns it, and
beside it (not around it) one key, ``"evaluated"``, that says what was evaluated::

    {"Car": {"3d": {"R11": [easy, moderate, hard], "R40": [...]}, "bev": ..., "2d": ..., "aos": ...},
     "Pedestrian": ..., "Cyclist": ..., "mean": ..., "loose": {... the same at the loose overlaps ...},
     "evaluated": {"frames": 3769, "frames_without_prediction": [], "unused_prediction_files": []}}

Waymo data: ``{"Vehicle": {"LEVEL_1": {"AP": .., "APH": ..}, "LEVEL_2": ...}, ..., "mean": ..., "evaluated": ...}``.
AP values are percentages. So ``json.load(f)["Car"]["3d"]["R40"]`` reads the same number from either command.
``frames_without_prediction``: frame ids that had no result file and counted as no detections;
``unused_prediction_files``: result files of frames outside the evaluated set (both empty for ``ssal evaluate``,
which predicts every frame it evaluates).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ssal.atomic import atomic_write_json

__all__ = ["METADATA_KEY", "metrics_document", "write_metrics"]

METADATA_KEY = "evaluated"


def metrics_document(result: dict, frames: int, frames_without_prediction: Sequence[str] = (),
                     unused_prediction_files: Sequence[str] = ()) -> dict:
    """The JSON object of ``metrics.json`` for an evaluator's ``result`` over ``frames`` frames."""
    if METADATA_KEY in result:
        raise ValueError(f"the result already has a {METADATA_KEY!r} entry")
    return {**result, METADATA_KEY: {"frames": int(frames),
                                     "frames_without_prediction": list(frames_without_prediction),
                                     "unused_prediction_files": list(unused_prediction_files)}}


def write_metrics(path: str | os.PathLike, result: dict, frames: int, frames_without_prediction: Sequence[str] = (),
                  unused_prediction_files: Sequence[str] = ()) -> Path:
    """Write ``metrics_document(...)`` to ``path`` atomically."""
    atomic_write_json(path, metrics_document(result, frames, frames_without_prediction, unused_prediction_files))
    return Path(path)
