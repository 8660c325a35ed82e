"""The CPSP training set: labelled frames and pseudo-scenes, mixed sample by sample (SPEC 3.5).

Item ``i`` of epoch ``e`` is the labelled frame ``L[i mod |L|]`` (with the ordinary copy-paste from the labelled
bank) with probability ``p``, else a pseudo-scene; only the chosen item is built (the original built both and
threw one away). The same ``p`` means the same thing on every dataset (the original read its key as 1/P on
KITTI and 2/(P + 1) on Waymo). Flip, rotation and scaling apply to both kinds. One epoch is ``|L| x repeat``, or
``samples_per_epoch`` items when the stage sets it (the iteration-based schedule).

Random streams: the coin and the pseudo-scene come from ``SeedSequence([seed, e, i, purpose])``, the labelled
item's augmentation from its own ``DetectionDataset`` stream; all are keyed by the epoch, so scenes differ from
epoch to epoch and never depend on the number of workers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ssal.data.augment import random_flip, random_rotation, random_scaling
from ssal.data.loader import DetectionDataset
from ssal.ssl.config import CpspStage
from ssal.ssl.database import CpspDatabase
from ssal.ssl.pseudo_scene import compose_pseudo_scene

__all__ = ["MixedDataset"]

_COIN, _SCENE = 1, 2


class MixedDataset(torch.utils.data.Dataset):
    """``labelled``: the augmented ``DetectionDataset`` of L; the database is opened from ``database_root`` at
    ``round_index`` by ``reload_database`` (call it on every rank after a refresh)."""

    def __init__(self, labelled: DetectionDataset, database_root: str | Path, stage: CpspStage, seed: int,
                 round_index: int | None = 0):
        if not labelled.infos:
            raise ValueError("the labelled set is empty")
        self.labelled = labelled
        self.root = Path(database_root)
        self.stage = stage
        self.seed = seed
        self.epoch = 0
        self.round_index = round_index
        self.database = CpspDatabase.open(self.root, round_index, stage.min_points)

    def reload_database(self, round_index: int | None) -> None:
        self.round_index = round_index
        self.database = CpspDatabase.open(self.root, round_index, self.stage.min_points)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.labelled.set_epoch(epoch)

    def __len__(self) -> int:
        if self.stage.samples_per_epoch is not None:
            return self.stage.samples_per_epoch
        return len(self.labelled.infos) * self.stage.repeat

    def _rng(self, index: int, purpose: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch, index, purpose]))

    def is_labelled(self, index: int) -> bool:
        """Whether item ``index`` of this epoch is a labelled frame (else a pseudo-scene)."""
        return bool(self._rng(index, _COIN).random() < self.stage.labelled_probability)

    def __getitem__(self, index: int) -> dict:
        if self.is_labelled(index):
            item = self.labelled[index]  # its frame is L[index mod |L|]
            item["pseudo"] = False
            return item
        return self.pseudo_item(index)

    def pseudo_item(self, index: int) -> dict:
        rng = self._rng(index, _SCENE)
        scene = compose_pseudo_scene(self.database, self.stage, rng)
        augment = self.labelled.augment
        points, boxes = scene.points, scene.boxes
        if augment is not None:
            points, boxes = random_flip(points, boxes, rng, augment.flip_x, augment.flip_y)
            points, boxes = random_rotation(points, boxes, rng, augment.rotation)
            points, boxes = random_scaling(points, boxes, rng, augment.scaling)
        item = self.labelled.make_item(f"pseudo:{scene.frame_id}", points, boxes, scene.names)
        item["pseudo"] = True
        return item
