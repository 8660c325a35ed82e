"""One inference pass of the current model over the unlabelled pool, shared by the thresholds and the database.

The original ran two passes per build and per refresh (one for the thresholds, one for the database); here the
predictions are streamed once into a ``PoolOutputs`` folder (``database/predictions_<r>``), sharded across ranks
under torchrun (``ssal.active.pool_inference``), and both consumers read that folder. The model sees label-free
infos only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ssal.active.outputs import PoolOutputs
from ssal.active.pool_inference import InferenceRequest, PoolPredictor, run_pool_inference, strip_labels
from ssal.data.loader import DetectionDataset, collate
from ssal.engine.distributed import DistContext

__all__ = ["predict_unlabelled", "empty_predictions"]


def empty_predictions(classes: Sequence[str], features: int = 256) -> PoolOutputs:
    """Predictions of a pool with no frame (every frame labelled)."""
    arrays = {"boxes": np.zeros((0, 7), np.float32), "scores": np.zeros(0, np.float32),
              "labels": np.zeros(0, np.int16), "cls_probs": np.zeros((0, len(classes)), np.float32),
              "roi_features": np.zeros((0, features), np.float16)}
    return PoolOutputs([], np.zeros(1, np.int64), arrays, list(classes))


def predict_unlabelled(model, reader, infos, classes: Sequence[str], point_cloud_range, out_dir: Path, *,
                       batch_size: int, seed: int, dist: DistContext | None = None, info: dict | None = None,
                       workers: int = 0) -> PoolOutputs:
    """Predictions of ``model`` on ``infos`` (labels stripped here) into ``out_dir``; reused when complete."""
    dist = dist or DistContext.single()
    if dist.broadcast_object(out_dir.is_dir()):  # rank 0 decides: every rank must join the same collectives
        return PoolOutputs.open(out_dir)
    if not infos:
        return empty_predictions(classes)
    dataset = DetectionDataset(reader, strip_labels(infos), classes, point_cloud_range)
    return run_pool_inference(PoolPredictor(model, InferenceRequest(), seed), dataset, out_dir, classes,
                              collate_fn=collate, batch_size=batch_size, workers=workers, dist=dist, info=info)
