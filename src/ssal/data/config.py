"""The ``data:`` section of a config: which dataset, where, which classes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ssal.errors import SsalError


@dataclass
class DataConfig:
    format: Literal["kitti", "waymo"] = "kitti"  # the on-disk layout
    root: str = ""  # dataset folder; relative paths resolve against the working directory; --data-root overrides
    classes: list[str] = field(default_factory=lambda: ["Car", "Pedestrian", "Cyclist"])  # target classes, in order
    train_split: str = "train"  # the pool for labelling (ImageSets/<name>.txt)
    val_split: str = "val"  # evaluation split
    info_files: dict[str, str] = field(default_factory=dict)  # split -> info pickle, overriding the default places
    fov_crop: bool = True  # KITTI: keep only points in the camera image, as the labels cover only that
    train_repeat: int = 1  # passes over the labelled frames per epoch (OpenPCDet's REPEAT, for small labelled sets)
    # an iteration-based schedule: every training epoch is this many samples whatever the labelled set's size
    # (frames cycled in order), so that runs that bought different numbers of frames train equally long;
    # null: |L| x train_repeat
    samples_per_epoch: int | None = None
    # training only: drop ground-truth boxes holding no point (OpenPCDet's FILTER_EMPTY_BOXES_FOR_TRAIN, on for
    # Waymo, whose labels include objects the LiDAR never saw); the budget still counts them
    filter_empty_boxes: bool = False
    # Waymo: split -> k, keep every k-th frame of the split (OpenPCDet's SAMPLED_INTERVAL; the paper: train 20,
    # val 10); splits not named keep every frame.
    sampled_interval: dict[str, int] = field(default_factory=dict)
    drop_nlz_points: bool = False  # Waymo: drop points in no-label zones (OpenPCDet's Waymo configs keep them)
    processed_data_tag: str = "waymo_processed_data_v0_5_0"  # Waymo: the folder OpenPCDet's processing wrote

    def validate(self) -> None:
        if not self.classes:
            raise SsalError("at least one class is needed", "classes")
        if self.train_repeat < 1:
            raise SsalError(f"expected an integer >= 1, got {self.train_repeat}", "train_repeat")
        if self.samples_per_epoch is not None and self.samples_per_epoch < 1:
            raise SsalError(f"expected an integer >= 1 or null, got {self.samples_per_epoch}", "samples_per_epoch")
        if len(set(self.classes)) != len(self.classes):
            raise SsalError(f"classes repeat: {self.classes}", "classes")
        for split, interval in self.sampled_interval.items():
            if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
                raise SsalError(f"expected an integer >= 1, got {interval!r}", f"sampled_interval.{split}")
