"""Supervised training of a detector on a set of labelled frames (``ssal train``; the pretrain and final stages).

Copy-paste augmentation draws only from the objects of the frames being trained on, never from the whole split.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from ssal.atomic import atomic_write_text
from ssal.config import Config, config_to_yaml
from ssal.data.database import build_object_database
from ssal.data.datasets import dataset_from_config
from ssal.data.frame import FrameInfo
from ssal.data.loader import DetectionDataset, collate
from ssal.engine import Trainer, load_weights
from ssal.engine.checkpoint import latest_checkpoint_path
from ssal.engine.distributed import DistContext
from ssal.engine.run_folder import prepare_run_folder
from ssal.errors import SsalError
from ssal.models import build_detector

_log = logging.getLogger(__name__)


def select_frames(infos: Sequence[FrameInfo], frame_ids: Sequence[str] | None, where: str = "labelled set") -> list[FrameInfo]:
    """The infos of ``frame_ids`` (all of ``infos`` when None), in the order of ``frame_ids``."""
    if frame_ids is None:
        return list(infos)
    by_id = {info.frame_id: info for info in infos}
    missing = [frame_id for frame_id in frame_ids if frame_id not in by_id]
    if missing:
        raise SsalError(f"{len(missing)} frame(s) are not in the training split, e.g. {missing[:3]}", where)
    return [by_id[frame_id] for frame_id in frame_ids]


def build_training_set(config: Config, reader, labelled: Sequence[FrameInfo]) -> DetectionDataset:
    """The augmented training samples of ``labelled``, with an object bank built from those frames only."""
    classes = config.data.classes
    database = None
    if config.augment.copy_paste:
        frames = (reader.load_frame(info) for info in labelled)
        database = build_object_database(frames, classes).filtered(config.augment.min_points)
    return DetectionDataset(reader, labelled, classes, config.model.point_cloud_range, augment=config.augment,
                            database=database, seed=config.train.seed, repeat=config.data.train_repeat,
                            drop_empty_boxes=config.data.filter_empty_boxes,
                            samples_per_epoch=config.data.samples_per_epoch)


def train_detector(config: Config, run_dir: str | Path, frame_ids: Sequence[str] | None = None, *,
                   resume: bool = False, overwrite: bool = False, init_from: str | Path | None = None,
                   dist: DistContext | None = None) -> Path:
    """Train ``config.model`` on the training split (or on ``frame_ids`` of it); returns the final checkpoint.

    ``init_from``: start from another run's weights (a later stage from an earlier one) instead of from scratch.
    ``resume``: continue from ``run_dir/ckpt/latest.pth`` if it exists. A ``run_dir`` that already holds a run
    is refused unless ``resume`` or ``overwrite`` (which deletes the old run's outputs) is given.

    Every check (the folder, the data, the checkpoint to resume and whether it fits this config) comes before
    the first write, so a refused run leaves the folder as it was. Hold the folder's ``RunLock`` around this.
    """
    run_dir = Path(run_dir)
    dist = dist or DistContext.single()
    if resume and overwrite:
        raise SsalError("give --resume (continue the run) or --overwrite (start it again), not both", "--overwrite")
    if not overwrite:  # with overwrite, the old outputs are deleted once everything else has been checked
        dist.run_on_main(prepare_run_folder, run_dir, resume, False)
    reader = dataset_from_config(config.data)
    labelled = select_frames(reader.infos(config.data.train_split), frame_ids)
    if not labelled:
        raise SsalError("no labelled frames to train on", "labelled set")
    dataset = build_training_set(config, reader, labelled)
    model = build_detector(config.model, seed=config.train.seed)
    if init_from is not None:
        load_weights(model, init_from, config.model.name, config.model)
    trainer = Trainer(model, dataset, config.train, run_dir, model_name=config.model.name,
                      model_config=config.model, collate_fn=collate, dist=dist)
    if resume:
        trainer.resume()  # refuses another model or changed settings before anything is written
    if dist.is_main:
        if overwrite:
            prepare_run_folder(run_dir, resume=False, overwrite=True)
        atomic_write_text(run_dir / "config.yaml", config_to_yaml(config))
    dist.barrier()
    trainer.train()
    return latest_checkpoint_path(run_dir)
