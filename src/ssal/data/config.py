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

    def validate(self) -> None:
        if not self.classes:
            raise SsalError("at least one class is needed", "classes")
        if self.train_repeat < 1:
            raise SsalError(f"expected an integer >= 1, got {self.train_repeat}", "train_repeat")
        if len(set(self.classes)) != len(self.classes):
            raise SsalError(f"classes repeat: {self.classes}", "classes")
