"""Sim-to-real: a detector trained only on the synthetic world, run on real KITTI frames.

    python benchmarks/sim_to_real.py --config configs/synthetic/cpu.yaml --ckpt RUN/ckpt/latest.pth \\
        [--real ../shared/data/kitti_sample] [--split val] [--score 0.5] [--iou 0.5]

The strongest sign that the world is like KITTI: how many of the real frames' cars the detector finds (a
prediction of class Car with score >= ``--score`` at BEV IoU >= ``--iou``, each car and each prediction matched
once, highest scores first) and how many of its confident Car predictions are right. On the sample's 7 validation
frames (20 cars), the world before drives (issue 12) gave 12 of 20 found and 12 of 20 predictions correct; the
target is >= 16 of 20 found and >= 80 % of predictions correct. Runs on CPU in seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ssal.config import load_config
from ssal.data.datasets import dataset_from_config
from ssal.geometry import boxes_iou_bev
from ssal.pipeline.prediction import load_detector, predict_frames

DEFAULT_REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kitti_sample"


def match_cars(gt: np.ndarray, pred: np.ndarray, scores: np.ndarray, iou: float) -> int:
    """Cars found: greedy one-to-one matching of predictions (highest score first) to ground truth at BEV IoU."""
    if not len(gt) or not len(pred):
        return 0
    overlap = boxes_iou_bev(torch.from_numpy(pred).double(), torch.from_numpy(gt).double()).numpy()
    taken = np.zeros(len(gt), dtype=bool)
    found = 0
    for row in np.argsort(-scores, kind="stable"):
        candidates = np.where(taken, -1.0, overlap[row])
        best = int(candidates.argmax())
        if candidates[best] >= iou:
            taken[best] = True
            found += 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--real", default=str(DEFAULT_REAL))
    parser.add_argument("--split", default="val")
    parser.add_argument("--score", type=float, default=0.5)
    parser.add_argument("--iou", type=float, default=0.5)
    args = parser.parse_args()
    config = load_config(args.config, [f"data.root={args.real}", "train.workers=0"])
    reader = dataset_from_config(config.data)
    infos = reader.infos(args.split)
    model = load_detector(config, args.ckpt)
    predictions = predict_frames(config, model, reader, infos)
    car = list(config.data.classes).index("Car") + 1  # labels are 1-based
    cars = found = confident = 0
    for info, prediction in zip(infos, predictions):
        gt = info.annos.gt_boxes_lidar[info.annos.name == "Car"].astype(np.float64)
        keep = (prediction["labels"] == car) & (prediction["scores"] >= args.score)
        boxes, scores = prediction["boxes"][keep].astype(np.float64), prediction["scores"][keep]
        hits = match_cars(gt, boxes, scores, args.iou)
        print(f"{info.frame_id}: {len(gt)} cars, {len(boxes)} Car predictions with score >= {args.score}, "
              f"{hits} matched")
        cars, found, confident = cars + len(gt), found + hits, confident + len(boxes)
    share = found / confident if confident else 0.0
    print(f"\ncars found: {found} of {cars}; predictions correct: {found} of {confident} ({100 * share:.0f} %) "
          f"(BEV IoU >= {args.iou}, score >= {args.score}; target: >= 80 % of the cars found, >= 80 % correct)")


if __name__ == "__main__":
    main()
