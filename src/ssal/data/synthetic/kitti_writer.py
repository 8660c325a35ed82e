"""Write synthetic frames in the KITTI object layout (what ``ssal.data.kitti`` and OpenPCDet read)::

    OUT/training/velodyne/NNNNNN.bin   float32 x, y, z, reflectance
    OUT/training/label_2/NNNNNN.txt    KITTI labels
    OUT/training/calib/NNNNNN.txt      P0-P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo
    OUT/training/planes/NNNNNN.txt     road plane
    OUT/training/image_2/NNNNNN.png    grey depth rendering, image size
    OUT/ImageSets/{train,val,trainval,test}.txt
    OUT/synth.json                     how the data was made (seed, preset, frame and drive counts, label noise)
    OUT/synth_tags.json                drive, street, weather and rare-situation tags per frame and object
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ssal.data.kitti_calib import Calibration
from ssal.data.kitti_label import KittiLabels, format_label_lines
from ssal.data.kitti_plane import format_plane
from ssal.data.synthetic import output_folder

FOLDERS = ("velodyne", "label_2", "calib", "planes", "image_2")
# What --overwrite removes: the layout above and anything derived from an earlier dataset in the folder.
_REPLACED = ("training", "testing", "ImageSets", "ssal_infos", "gt_database", "synth.json", "synth_tags.json")
_REPLACED_GLOBS = ("kitti_infos_*.pkl", "kitti_dbinfos_*.pkl")


def prepare_output(root: str | os.PathLike, overwrite: bool) -> Path:
    """A new or empty folder, or (with ``overwrite``) one whose earlier KITTI data is removed."""
    folders = [f"training/{folder}" for folder in FOLDERS] + ["ImageSets"]
    return output_folder.prepare_output(root, overwrite, "KITTI", _REPLACED, _REPLACED_GLOBS, folders)


def write_frame(root: Path, frame_id: str, points: np.ndarray, labels: KittiLabels, calib: Calibration,
                plane: np.ndarray, png: bytes) -> None:
    """The five files of one frame."""
    training = root / "training"
    np.ascontiguousarray(points, dtype="<f4").tofile(training / "velodyne" / f"{frame_id}.bin")
    (training / "label_2" / f"{frame_id}.txt").write_text(format_label_lines(labels))
    (training / "calib" / f"{frame_id}.txt").write_text(calib.to_text())
    (training / "planes" / f"{frame_id}.txt").write_text(format_plane(plane))
    (training / "image_2" / f"{frame_id}.png").write_bytes(png)


def write_image_sets(root: Path, train_ids: list[str], val_ids: list[str]) -> None:
    """``train``, ``val``, ``trainval`` (train ids first) and an empty ``test`` (OpenPCDet's info script reads it)."""
    folder = root / "ImageSets"
    for name, ids in (("train", train_ids), ("val", val_ids), ("trainval", train_ids + val_ids), ("test", [])):
        (folder / f"{name}.txt").write_text("".join(f"{frame_id}\n" for frame_id in ids))


def write_manifest(root: Path, manifest: dict) -> None:
    (root / "synth.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
