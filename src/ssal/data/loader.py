"""Frames -> model batches: the torch ``Dataset`` of a set of frames, and the collate function.

Randomness of item ``i`` in epoch ``e`` comes only from ``SeedSequence([seed, e, i])``: the stream does not depend
on the number of workers or on restarts, so a resumed run sees exactly the samples an uninterrupted run would,
and every epoch differs from the last (the original code's workers replayed the same draws every epoch).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from ssal.data.augment import AugmentConfig, augment_scene
from ssal.data.database import ObjectDatabase, frame_ground
from ssal.data.frame import FrameInfo


class DetectionDataset(torch.utils.data.Dataset):
    """Samples for training (``augment`` given) or inference (no augmentation) over ``infos`` of ``reader``.

    An item is ``{"frame_id", "points" (N, F) float32, "gt_boxes" (M, 8) float32}``: boxes of ``classes`` only,
    with the 1-based class id in the last column; points and boxes cropped to ``point_cloud_range``
    (x0, y0, z0, x1, y1, z1; a box stays when its centre is inside in x and y). ``repeat`` passes over the
    frames make one epoch (each pass draws its own augmentation), or exactly ``samples_per_epoch`` items when
    given (the frames cycled in order, whatever their number). ``drop_empty_boxes``: leave out labelled boxes
    that hold no point."""

    def __init__(self, reader, infos: Sequence[FrameInfo], classes: Sequence[str], point_cloud_range: Sequence[float],
                 augment: AugmentConfig | None = None, database: ObjectDatabase | None = None, seed: int = 0,
                 repeat: int = 1, drop_empty_boxes: bool = False, samples_per_epoch: int | None = None):
        self.reader = reader
        self.infos = list(infos)
        self.classes = list(classes)
        self.point_cloud_range = np.asarray(point_cloud_range, dtype=np.float32)
        self.augment = augment
        self.database = database
        self.seed = seed
        self.repeat = repeat
        self.samples_per_epoch = samples_per_epoch
        self.drop_empty_boxes = drop_empty_boxes
        self.epoch = 0
        self._grounds: dict[str, np.ndarray | None] = {}  # per frame id, see set_epoch

    def set_epoch(self, epoch: int) -> None:
        """Called in the main process before an epoch's loader forks its workers: it also settles every frame's
        ground plane once, so that workers inherit the planes instead of refitting them (~0.1 s a frame without a
        plane file) every epoch."""
        self.epoch = epoch
        if self.augment is not None and self.augment.copy_paste and self.augment.use_ground:
            missing = [info for info in self.infos if info.frame_id not in self._grounds]
            for info in tqdm(missing, desc="ground planes", unit="frame", disable=None, leave=False):
                plane = info.ground_plane_lidar()
                self._grounds[info.frame_id] = plane if plane is not None else \
                    frame_ground(info, self.reader.load_points(info))

    def __len__(self) -> int:
        if self.samples_per_epoch is not None:
            return self.samples_per_epoch
        return len(self.infos) * self.repeat

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch, index]))

    def __getitem__(self, index: int) -> dict:
        info = self.infos[index % len(self.infos)]
        points = self.reader.load_points(info)
        boxes, names = _annotations(info, self.drop_empty_boxes)
        if self.augment is not None:
            ground = self._ground(info, points) if self.augment.copy_paste and self.augment.use_ground else None
            points, boxes, names = augment_scene(points, boxes, names, self.rng(index), self.augment,
                                                 self.database, ground)
        return self.make_item(info.frame_id, points, boxes, names)

    def _ground(self, info: FrameInfo, points: np.ndarray) -> np.ndarray | None:
        """The frame's ground plane: its plane file, else estimated from its points, once per frame."""
        if info.frame_id not in self._grounds:
            self._grounds[info.frame_id] = frame_ground(info, points)
        return self._grounds[info.frame_id]

    def make_item(self, frame_id: str, points: np.ndarray, boxes: np.ndarray, names: np.ndarray) -> dict:
        """Keep the target classes, crop to the range, attach class ids."""
        wanted = np.isin(names, self.classes)
        boxes, names = boxes[wanted], names[wanted]
        low, high = self.point_cloud_range[:3], self.point_cloud_range[3:]
        inside = np.all((points[:, :3] >= low) & (points[:, :3] < high), axis=1)
        centred = np.all((boxes[:, :2] >= low[:2]) & (boxes[:, :2] < high[:2]), axis=1)
        ids = np.array([self.classes.index(n) + 1 for n in names[centred]], dtype=np.float32)
        gt_boxes = np.concatenate((boxes[centred], ids[:, None]), axis=1).astype(np.float32)
        return {"frame_id": frame_id, "points": np.ascontiguousarray(points[inside], dtype=np.float32),
                "gt_boxes": gt_boxes.reshape(-1, 8)}


def _annotations(info: FrameInfo, drop_empty: bool) -> tuple[np.ndarray, np.ndarray]:
    if info.annos is None:
        return np.zeros((0, 7), dtype=np.float32), np.zeros(0, dtype="<U16")
    keep = info.annos.num_points_in_gt != 0 if drop_empty else slice(None)  # -1 (not counted) stays
    return info.annos.gt_boxes_lidar[keep].astype(np.float32), info.annos.name[keep]


def collate(items: list[dict]) -> dict:
    """A batch: points (P, 1 + F) with the batch index first, gt_boxes (B, Mmax, 8) zero-padded."""
    points = [np.concatenate((np.full((len(it["points"]), 1), b, dtype=np.float32), it["points"]), axis=1)
              for b, it in enumerate(items)]
    width = max([len(it["gt_boxes"]) for it in items] + [1])
    gt_boxes = np.zeros((len(items), width, 8), dtype=np.float32)
    for b, item in enumerate(items):
        gt_boxes[b, : len(item["gt_boxes"])] = item["gt_boxes"]
    return {"points": torch.from_numpy(np.concatenate(points)), "gt_boxes": torch.from_numpy(gt_boxes),
            "batch_size": len(items), "frame_ids": [it["frame_id"] for it in items]}
