"""The files of OpenPCDet's processed Waymo layout, and what each must hold::

    ROOT/ImageSets/{train,val}.txt                     sequence names, one per line (``.tfrecord`` optional)
    ROOT/<tag>/<sequence>/NNNN.npy                     float32 (N, 6): x, y, z, intensity, elongation, NLZ flag
    ROOT/<tag>/<sequence>/<sequence>.pkl               a list of per-frame dicts (below)
    ROOT/<tag>_infos_{train,val}.pkl                   the per-frame dicts of every sequence of a split, in order

``<tag>`` is OpenPCDet's PROCESSED_DATA_TAG, ``waymo_processed_data_v0_5_0``. Points are in the vehicle frame
(all five LiDARs, both returns); the NLZ flag is -1 outside no-label zones. A frame dict holds
``point_cloud{num_features, lidar_sequence, sample_idx}``, ``frame_id`` (``<sequence>_NNN``), ``metadata
{context_name, timestamp_micros}``, ``image``, ``pose`` (4, 4 vehicle -> global), ``num_points_of_each_lidar``
and, for labelled splits, ``annos{name, difficulty, dimensions, location, heading_angles, obj_ids,
tracking_difficulty, num_points_in_gt, speed_global, accel_global, gt_boxes_lidar}`` (``gt_boxes_lidar``: (M, 7)
``x, y, z, dx, dy, dz, heading``, or (M, 9) with the velocity in the vehicle frame appended, as OpenPCDet 0.6
writes it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ssal.data.text_files import read_id_list
from ssal.errors import SsalError

DEFAULT_TAG = "waymo_processed_data_v0_5_0"
POINT_COLUMNS = 6  # x, y, z, intensity, elongation, NLZ flag
OUTSIDE_NLZ = -1.0
REQUIRED_FRAME_KEYS = (("point_cloud", "lidar_sequence"), ("point_cloud", "sample_idx"), ("frame_id",))
REQUIRED_ANNOS_KEYS = ("name", "difficulty", "num_points_in_gt", "gt_boxes_lidar")
_CAMERA_SUFFIX = "_with_camera_labels"


def split_file(root: Path, split: str) -> Path:
    return root / "ImageSets" / f"{split}.txt"


def split_info_file(root: Path, tag: str, split: str) -> Path:
    """OpenPCDet's info pickle of a whole split."""
    return root / f"{tag}_infos_{split}.pkl"


def sequence_info_file(root: Path, tag: str, sequence: str) -> Path:
    return root / tag / sequence / f"{sequence}.pkl"


def frame_file(tag: str, sequence: str, sample_idx: int) -> str:
    """A frame's point file, relative to the dataset root."""
    return f"{tag}/{sequence}/{sample_idx:04d}.npy"


def read_split_sequences(root: Path, split: str) -> list[str]:
    """Sequence names of ``ImageSets/<split>.txt`` in order (a ``.tfrecord`` ending dropped, as OpenPCDet does);
    a name may not repeat."""
    path = split_file(root, split)
    if not path.is_file():
        present = sorted(p.stem for p in path.parent.glob("*.txt")) if path.parent.is_dir() else []
        raise SsalError(f"split file not found (splits present: {', '.join(present) or 'none'})", path)
    return [name.removesuffix(".tfrecord") for name, _ in read_id_list(path, "split file", "sequence")]


def sequence_folder_name(root: Path, tag: str, sequence: str) -> str | None:
    """The folder that holds ``sequence``: its own name, or the name without ``_with_camera_labels`` (older
    processing runs named folders either way); None if neither exists."""
    for name in (sequence, sequence.removesuffix(_CAMERA_SUFFIX)):
        if (root / tag / name).is_dir():
            return name
    return None


def missing_keys(frame, annos_needed: bool = False) -> list[str]:
    """Dotted names of the keys a frame dict lacks (``annos`` ones only when it has ``annos`` or they are
    needed)."""
    if not isinstance(frame, dict):
        return ["(a dict)"]
    missing = []
    for path in REQUIRED_FRAME_KEYS:
        value = frame
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            missing.append(".".join(path))
    annos = frame.get("annos")
    if annos is None:
        return missing + (["annos"] if annos_needed else [])
    if not isinstance(annos, dict):
        return missing + ["annos (a dict)"]
    return missing + [f"annos.{key}" for key in REQUIRED_ANNOS_KEYS if key not in annos]


def version_error(missing: list[str], record: int, frame, tag: str, where) -> SsalError:
    frame_id = frame.get("frame_id", "?") if isinstance(frame, dict) else "?"
    return SsalError(f"frame record {record} ({frame_id}) lacks {', '.join(missing)}: infos from another version of "
                     f"OpenPCDet's Waymo layout? (expected {tag} infos with point_cloud.lidar_sequence, "
                     "point_cloud.sample_idx, frame_id and annos.name/difficulty/num_points_in_gt/gt_boxes_lidar)",
                     where)


def read_point_file(path: Path) -> np.ndarray:
    """The (N, 6) float32 array of a frame's ``.npy``; a missing file, another dtype or shape, an empty or
    non-finite array is an ``SsalError`` naming the file."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise SsalError("point file not found", path) from None
    except (ValueError, EOFError, OSError) as error:
        raise SsalError(f"not a readable .npy file ({error})", path) from None
    check_point_array(array.dtype, array.shape, path)
    if len(array) == 0:
        raise SsalError("point file holds no points", path)
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array).all(axis=1)).sum())
        raise SsalError(f"{bad} of {len(array)} points hold NaN or infinite values", path)
    return array.astype(np.float32, copy=False)


def point_file_rows(path: Path) -> int:
    """Points in a frame's ``.npy``, from its header alone."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(handle)
    except FileNotFoundError:
        raise SsalError("point file not found", path) from None
    except (ValueError, EOFError, OSError) as error:
        raise SsalError(f"not a readable .npy file ({error})", path) from None
    check_point_array(dtype, shape, path)
    return int(shape[0])


def check_point_array(dtype: np.dtype, shape: tuple, path: Path) -> None:
    if np.dtype(dtype).kind != "f" or np.dtype(dtype).itemsize != 4 or len(shape) != 2 or shape[1] != POINT_COLUMNS:
        raise SsalError(f"expected a float32 array (N, {POINT_COLUMNS}) of x, y, z, intensity, elongation, NLZ flag "
                        f"(OpenPCDet's processed Waymo points), got {np.dtype(dtype).name} {tuple(shape)}", path)
