"""Write synthetic sequences in OpenPCDet's processed Waymo layout (what ``ssal.data.waymo`` and OpenPCDet read)::

    OUT/waymo_processed_data_v0_5_0/<sequence>/NNNN.npy        float32 (N, 6) x, y, z, intensity, elongation, NLZ
    OUT/waymo_processed_data_v0_5_0/<sequence>/<sequence>.pkl  the sequence's frame dicts
    OUT/waymo_processed_data_v0_5_0_infos_{train,val}.pkl      the frame dicts of each split, sequence by sequence
    OUT/ImageSets/{train,val}.txt                              ``<sequence>.tfrecord``, one per line
    OUT/synth.json                                             how the data was made (seed, preset, counts)
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np

from ssal.data.synthetic import output_folder
from ssal.data.waymo_layout import DEFAULT_TAG, sequence_info_file, split_info_file

_REPLACED = (DEFAULT_TAG, "ImageSets", "ssal_infos", "synth.json")
_REPLACED_GLOBS = (f"{DEFAULT_TAG}_*.pkl",)


def prepare_output(root: str | os.PathLike, overwrite: bool) -> Path:
    """A new or empty folder, or (with ``overwrite``) one whose earlier Waymo-layout data is removed."""
    return output_folder.prepare_output(root, overwrite, "Waymo", _REPLACED, _REPLACED_GLOBS,
                                        [DEFAULT_TAG, "ImageSets"])


def write_points(root: Path, sequence: str, sample_idx: int, points: np.ndarray) -> None:
    """One frame's (N, 6) points as OpenPCDet saves them (``np.save``, float32)."""
    folder = root / DEFAULT_TAG / sequence
    folder.mkdir(exist_ok=True)
    np.save(folder / f"{sample_idx:04d}.npy", np.ascontiguousarray(points, dtype="<f4"))


def write_sequence_infos(root: Path, sequence: str, frames: list[dict]) -> None:
    (root / DEFAULT_TAG / sequence).mkdir(exist_ok=True)
    sequence_info_file(root, DEFAULT_TAG, sequence).write_bytes(pickle.dumps(frames, protocol=4))


def read_sequence_infos(root: Path, sequence: str) -> list[dict]:
    return pickle.loads(sequence_info_file(root, DEFAULT_TAG, sequence).read_bytes())


def write_split(root: Path, split: str, sequences: list[str], frames: list[dict]) -> None:
    """``ImageSets/<split>.txt`` and the split's info pickle (``frames`` in sequence order)."""
    (root / "ImageSets" / f"{split}.txt").write_text("".join(f"{name}.tfrecord\n" for name in sequences))
    split_info_file(root, DEFAULT_TAG, split).write_bytes(pickle.dumps(frames, protocol=4))


def write_manifest(root: Path, manifest: dict) -> None:
    (root / "synth.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
