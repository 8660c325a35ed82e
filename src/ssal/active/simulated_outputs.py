"""Pool outputs with realistic statistics but no model: for tests, benchmarks and trying strategies out.

About ``boxes_per_frame`` predictions per frame (Poisson; some frames empty), KITTI-like class mix (70 % Car,
20 % Pedestrian, 10 % Cyclist by default), class-sized boxes within 70 m, scores spread over [0.1, 1), RoI
features clustered by class and by a per-frame "scene" so that similar frames exist, point counts falling
with distance, dropout passes whose spread grows as the score falls, and gradient embeddings shaped like
BADGE's (uncertainty times the feature).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ssal.active.outputs import PoolOutputs

SIZES = {"Car": (3.9, 1.6, 1.56), "Pedestrian": (0.8, 0.6, 1.73), "Cyclist": (1.76, 0.6, 1.73)}


def simulated_outputs(num_frames: int, rng: np.random.Generator, classes: Sequence[str] = ("Car", "Pedestrian",
                      "Cyclist"), boxes_per_frame: float = 10.0, feature_dim: int = 256,
                      class_mix: Sequence[float] | None = None, mc_passes: int = 0, gradients: bool = False,
                      num_points: bool = False, scenes: int = 50, prefix: str = "") -> PoolOutputs:
    """Outputs for frames ``f"{prefix}{i:06d}"``, i < ``num_frames``; optional arrays on request."""
    c = len(classes)
    mix = np.asarray(class_mix if class_mix is not None else ([0.7, 0.2, 0.1] if c == 3 else [1.0 / c] * c))
    counts = rng.poisson(boxes_per_frame, num_frames)
    total = int(counts.sum())
    frame = np.repeat(np.arange(num_frames), counts)
    labels = rng.choice(c, size=total, p=mix / mix.sum()) + 1
    sizes = np.array([SIZES.get(name, (2.0, 1.0, 1.5)) for name in classes])[labels - 1]
    boxes = np.column_stack((rng.uniform(0, 70, total), rng.uniform(-35, 35, total), rng.uniform(-1.8, -0.6, total),
                             sizes * rng.uniform(0.9, 1.1, (total, 3)), rng.uniform(-np.pi, np.pi, total)))
    scores = np.clip(rng.beta(2.0, 1.2, total), 0.1, 0.999)
    probs = rng.dirichlet(np.ones(c), total) * 0.5
    probs[np.arange(total), labels - 1] += 0.5
    class_centres = rng.normal(0, 1, (c, feature_dim))
    scene_centres = rng.normal(0, 1, (scenes, feature_dim))
    scene = rng.integers(scenes, size=num_frames)[frame]
    features = class_centres[labels - 1] + 0.7 * scene_centres[scene] + 0.5 * rng.normal(0, 1, (total, feature_dim))
    arrays = {"boxes": boxes.astype(np.float32), "scores": scores.astype(np.float32),
              "labels": labels.astype(np.int16), "cls_probs": probs.astype(np.float32),
              "roi_features": features.astype(np.float16)}
    if mc_passes:
        spread = (1.05 - scores)[:, None, None] * np.array([0.3, 0.3, 0.1, 0.1, 0.1, 0.05, 0.1])
        arrays["mc_boxes"] = (boxes[:, None, :] + spread * rng.normal(0, 1, (total, mc_passes, 7))).astype(np.float32)
    if gradients:
        uncertainty = np.where(scores >= 0.5, scores - 1.0, scores)
        hidden = np.maximum(features, 0)
        arrays["grad_embeddings"] = np.concatenate((uncertainty[:, None] * hidden, uncertainty[:, None]),
                                                   axis=1).astype(np.float16)
    if num_points:
        distance = np.hypot(boxes[:, 0], boxes[:, 1])
        arrays["num_points"] = rng.poisson(4000.0 / np.maximum(distance, 3.0) * sizes.prod(axis=1)).astype(np.int32)
    offsets = np.concatenate(([0], np.cumsum(counts)))
    return PoolOutputs([f"{prefix}{i:06d}" for i in range(num_frames)], offsets, arrays, list(classes),
                       {"source": "simulated"})
