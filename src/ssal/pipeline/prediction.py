"""Run a trained detector over a split, save what it found, and score it (``ssal predict`` / ``ssal evaluate``).

Outputs in ``OUT``: ``results/<frame>.txt`` in KITTI result format (KITTI data; the official devkit reads them as
they are), ``predictions.pkl`` (per frame: boxes, scores, labels, class probabilities, 256-d RoI features), and
after an evaluation ``metrics.json`` (KITTI AP, or Waymo AP/APH at LEVEL_1 and LEVEL_2, in the shape
``ssal.eval.metrics_file`` describes).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ssal.atomic import atomic_write_bytes
from ssal.config import Config
from ssal.data.frame import FrameInfo
from ssal.data.kitti_results import detections_to_kitti, ground_truth_labels, write_kitti_results
from ssal.data.loader import DetectionDataset, collate
from ssal.engine import load_weights, predict
from ssal.engine.distributed import DistContext
from ssal.errors import SsalError
from ssal.eval import evaluate_kitti, evaluate_waymo, format_kitti_table, format_waymo_table
from ssal.eval.metrics_file import write_metrics
from ssal.models import build_detector

PREDICTION_KEYS = ("boxes", "scores", "labels", "cls_probs", "roi_features")


def load_detector(config: Config, checkpoint: str | Path, device: torch.device | str = "cpu"):
    """The configured detector with the weights of ``checkpoint``, in eval mode on ``device``."""
    model = build_detector(config.model, seed=config.train.seed)
    load_weights(model, checkpoint, config.model.name, config.model)
    return model.to(device).eval()


def predict_frames(config: Config, model, reader, infos: Sequence[FrameInfo], dist: DistContext | None = None,
                   batch_size: int = 4, description: str = "predict") -> list[dict[str, np.ndarray]] | None:
    """Post-processed detections of every frame of ``infos``, as numpy arrays, in the order of ``infos``, on
    rank 0 (``None`` on the other ranks: the whole split's RoI features are kept once, not once per rank).

    RoI features are float16 (half the memory and disk; strategies compare them by cosine similarity)."""
    dataset = DetectionDataset(reader, infos, config.data.classes, config.model.point_cloud_range)
    outputs = predict(model, dataset, collate_fn=collate, batch_size=batch_size, workers=config.train.workers,
                      dist=dist, description=description, gather="main")
    if outputs is None:
        return None
    return [{key: _numpy(key, out[key]) for key in PREDICTION_KEYS if key in out} for out in outputs]


def _numpy(key: str, value: torch.Tensor) -> np.ndarray:
    value = value.detach().cpu()
    return (value.to(torch.float16) if key == "roi_features" else value).numpy()


def save_predictions(out_dir: str | Path, config: Config, infos: Sequence[FrameInfo],
                     predictions: Sequence[dict[str, np.ndarray]]) -> None:
    out_dir = Path(out_dir)
    if config.data.format == "kitti":
        for info, pred in zip(infos, predictions):
            detections = detections_to_kitti(pred["boxes"], pred["scores"], pred["labels"], config.data.classes, info)
            write_kitti_results(out_dir / "results", info.frame_id, detections)
    payload = {"class_names": list(config.data.classes), "frame_ids": [info.frame_id for info in infos],
               "frames": list(predictions)}
    atomic_write_bytes(out_dir / "predictions.pkl", pickle.dumps(payload, protocol=4))


def evaluate_frames(config: Config, infos: Sequence[FrameInfo], predictions: Sequence[dict[str, np.ndarray]]) -> dict:
    """The evaluator's result for ``predictions`` against the ground truth in ``infos``."""
    if any(info.annos is None for info in infos):
        raise SsalError("the split has frames without labels; nothing to evaluate against", "evaluate")
    if config.data.format == "waymo":
        return evaluate_waymo([waymo_ground_truth(info) for info in infos],
                              [waymo_detections(p, config.data.classes) for p in predictions],
                              classes=tuple(config.data.classes))
    if config.data.format != "kitti":
        raise SsalError(f"evaluation of {config.data.format!r} data is not available yet", "data.format")
    ground_truth = [ground_truth_labels(info) for info in infos]
    detections = [detections_to_kitti(p["boxes"], p["scores"], p["labels"], config.data.classes, info)
                  for info, p in zip(infos, predictions)]
    return evaluate_kitti(ground_truth, detections, classes=tuple(config.data.classes))


def waymo_ground_truth(info: FrameInfo) -> dict[str, np.ndarray]:
    """A frame's labels as ``evaluate_waymo`` reads them (difficulty: the frame's LEVEL_1/LEVEL_2)."""
    annos = info.annos
    return {"boxes": annos.gt_boxes_lidar[:, :7], "names": annos.name, "num_points": annos.num_points_in_gt,
            "difficulty": annos.difficulty}


def waymo_detections(prediction: dict[str, np.ndarray], classes: Sequence[str]) -> dict[str, np.ndarray]:
    """A frame's detections as ``evaluate_waymo`` reads them (class ids are 1-based)."""
    labels = np.asarray(prediction["labels"], dtype=np.int64).reshape(-1)
    return {"boxes": np.asarray(prediction["boxes"]).reshape(-1, 7), "scores": prediction["scores"],
            "names": np.asarray(list(classes))[labels - 1] if len(labels) else np.zeros(0, dtype="<U1")}


def format_metrics(config: Config, metrics: dict) -> str:
    """The table ``ssal evaluate`` prints: KITTI's AP table, or Waymo's AP/APH per class and level."""
    if config.data.format == "waymo":
        return format_waymo_table(metrics, config.data.classes)
    return format_kitti_table(metrics)


def save_metrics(out_dir: str | Path, metrics: dict, frames: int) -> Path:
    """``OUT/metrics.json``: ``metrics`` of ``frames`` predicted frames (``ssal.eval.metrics_file``)."""
    return write_metrics(Path(out_dir) / "metrics.json", metrics, frames)
