"""How redundant a pool is, as a detector sees it: the median over frames of the best cosine similarity of a
frame's mean RoI feature to any other frame's.

    python benchmarks/redundancy.py --config configs/synthetic/cpu.yaml --ckpt RUN/ckpt/latest.pth \\
        --data-root DATA [--split train] [--max-frames 500]

Frames of one drive look alike, so a world made of drives (issue 12) should score higher than one of independent
snapshots, with the same detector. Frames without a predicted box are left out (they have no RoI feature).

Where the dataset root has the synthetic world's ``synth_tags.json``, it also says how often a frame's best match
lies in its own drive, against the share a match drawn at random would have: the redundancy the drives were built
for, which a similarity level alone does not show (features of any two street scenes are alike).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ssal.config import load_config
from ssal.data.datasets import dataset_from_config
from ssal.pipeline.prediction import load_detector, predict_frames


def similarities(features: np.ndarray) -> np.ndarray:
    """(F, F) cosine similarities of F frame features (F, D), each frame's to itself set to -inf."""
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return similarity


def best_similarities(features: np.ndarray) -> np.ndarray:
    """(F,) for F frame features (F, D): each frame's highest cosine similarity to another frame."""
    return similarities(features).max(axis=1)


def own_drive_matches(features: np.ndarray, drives: list[str]) -> tuple[float, float]:
    """(share of frames whose best match is a frame of their own drive, that share for a match drawn at random)."""
    drives = np.asarray(drives)
    same = drives[similarities(features).argmax(axis=1)] == drives
    _, sizes = np.unique(drives, return_counts=True)
    chance = float((sizes * (sizes - 1)).sum() / (len(drives) * (len(drives) - 1)))
    return float(same.mean()), chance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--max-frames", type=int, default=500)
    args = parser.parse_args()
    config = load_config(args.config, [f"data.root={args.data_root}"])
    reader = dataset_from_config(config.data)
    infos = reader.infos(args.split)[: args.max_frames]
    predictions = predict_frames(config, load_detector(config, args.ckpt), reader, infos)
    kept = [(info, p) for info, p in zip(infos, predictions) if len(p.get("roi_features", ()))]
    features = np.stack([p["roi_features"].mean(axis=0) for _, p in kept]).astype(np.float64)
    best = best_similarities(features)
    print(f"{len(best)} of {len(infos)} frames with boxes; best cosine similarity to another frame: "
          f"median {np.median(best):.4f}, quartiles {np.quantile(best, 0.25):.4f} / {np.quantile(best, 0.75):.4f}")
    tags = Path(args.data_root) / "synth_tags.json"
    if tags.is_file():
        frames = json.loads(tags.read_text())["frames"]
        share, chance = own_drive_matches(features, [frames[info.frame_id]["drive"] for info, _ in kept])
        print(f"best match in the frame's own drive: {share:.1%} of frames (a random match: {chance:.1%})")


if __name__ == "__main__":
    main()
