"""The objects of many frames in flat columns, so the evaluation can work on all frames at once.

Object ``i`` of frame ``f`` sits at row ``offsets[f] + i``: frame order and, within a frame, file order are kept,
because the devkit's greedy matching visits ground truth in file order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ssal.data.kitti_label import KittiLabels
from ssal.errors import SsalError


@dataclass(frozen=True)
class KittiObjects:
    """Objects of F frames, N rows in total."""

    offsets: np.ndarray  # (F + 1,) int64: rows of frame f are offsets[f]:offsets[f + 1]
    names: np.ndarray  # (N,) lower-case class names
    truncated: np.ndarray  # (N,) float64
    occluded: np.ndarray  # (N,) int64
    alpha: np.ndarray  # (N,) float64, observation angle
    bbox: np.ndarray  # (N, 4) float64, left top right bottom (pixels)
    camera_boxes: np.ndarray  # (N, 7) float64, (x, y, z, l, h, w, ry) bottom centre, camera frame
    score: np.ndarray | None  # (N,) float64 for detections

    @property
    def frame(self) -> np.ndarray:
        """(N,) int64 frame index of every row."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))

    def __len__(self) -> int:
        return int(self.offsets[-1])


def flatten_labels(frames: Sequence[KittiLabels], what: str, with_score: bool) -> KittiObjects:
    """Stack per-frame labels (ground truth: ``with_score=False``; detections: True) into one ``KittiObjects``.

    Raises ``SsalError`` (naming ``what`` and the frame index) for a missing score or a negative box size.
    """
    for index, labels in enumerate(frames):
        _check_frame(labels, f"{what}[{index}]", with_score)
    counts = np.fromiter((len(labels) for labels in frames), dtype=np.int64, count=len(frames))
    offsets = np.concatenate(([0], np.cumsum(counts)))

    def stack(column: str, width: int | None = None, dtype=np.float64) -> np.ndarray:
        parts = [np.asarray(getattr(labels, column), dtype=dtype) for labels in frames]
        empty = np.zeros((0,) if width is None else (0, width), dtype=dtype)
        return np.concatenate(parts) if parts else empty

    names = np.char.lower(stack("name", dtype=str)) if len(frames) else np.zeros(0, dtype="<U16")
    location, dimensions = stack("location", 3), stack("dimensions", 3)
    rotation_y = stack("rotation_y")
    return KittiObjects(
        offsets=offsets,
        names=names.astype(str),
        truncated=stack("truncated"),
        occluded=stack("occluded", dtype=np.int64),
        alpha=stack("alpha"),
        bbox=stack("bbox", 4).reshape(-1, 4),
        camera_boxes=np.concatenate((location.reshape(-1, 3), dimensions.reshape(-1, 3), rotation_y[:, None]), 1),
        score=_stack_scores(frames) if with_score else None,
    )


def _check_frame(labels: KittiLabels, where: str, with_score: bool) -> None:
    if not isinstance(labels, KittiLabels):
        raise SsalError(f"expected KittiLabels, got {type(labels).__name__}", where)
    if with_score and labels.score is None and len(labels):
        raise SsalError("detections need a score (16-column result lines)", where)
    if with_score and labels.score is not None and not np.all(np.isfinite(labels.score)):
        raise SsalError("score is NaN or infinite", where)
    sized = np.char.lower(np.asarray(labels.name, dtype=str)) != "dontcare"
    if np.any(np.asarray(labels.dimensions)[sized] < 0):
        row = int(np.flatnonzero((np.asarray(labels.dimensions) < 0).any(axis=1) & sized)[0])
        raise SsalError(f"object {row} has a negative box size", where)


def _stack_scores(frames: Sequence[KittiLabels]) -> np.ndarray:
    """(N,) scores; an empty frame may carry ``score=None`` (an empty result file has no columns to tell)."""
    parts = [np.zeros(0) if labels.score is None else np.asarray(labels.score, np.float64) for labels in frames]
    return np.concatenate(parts) if parts else np.zeros(0)
