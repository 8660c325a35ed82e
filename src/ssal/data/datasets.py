"""Open a dataset by format name (from a config's ``data:`` section or from CLI arguments)."""

from __future__ import annotations

import os
from pathlib import Path

from ssal.config.loader import key_source
from ssal.data.config import DataConfig
from ssal.data.kitti import KittiDataset
from ssal.data.waymo import WaymoDataset
from ssal.errors import SsalError

FORMATS = ("kitti", "waymo")


def open_dataset(format: str, root: str | os.PathLike, **options):
    """A dataset reader for ``format`` at ``root``."""
    if format == "kitti":
        return KittiDataset(root, **options)
    if format == "waymo":
        return WaymoDataset(root, **options)
    raise SsalError(f"unknown dataset format {format!r} (known: {', '.join(FORMATS)})", "--format")


def dataset_from_config(data: DataConfig):
    """The reader of a config's ``data:`` section; a missing root names the key and the file that set it."""
    where = key_source(data, "root")
    if not data.root:
        raise SsalError("data.root: empty; set it in the config or pass --data-root DIR", where or "data.root")
    if not Path(data.root).is_dir():
        raise SsalError(f"data.root: {data.root} is not a folder (expected the dataset root; set data.root or pass "
                        "--data-root DIR)", where or "data.root")
    if data.format == "kitti":
        return KittiDataset(data.root, fov_crop=data.fov_crop, info_files=data.info_files)
    if data.format == "waymo":
        return WaymoDataset(data.root, sampled_interval=data.sampled_interval, drop_nlz_points=data.drop_nlz_points,
                            info_files=data.info_files, processed_data_tag=data.processed_data_tag)
    return open_dataset(data.format, data.root)
