"""Info files: everything about every frame of a split except the points, so that training, statistics and
budgeting never re-parse label and calibration files.

Our format (``docs/data_formats.md``) is a pickle of plain Python and numpy values, no ssal classes, so it loads
anywhere without ssal and survives refactors::

    {"format": "ssal-infos", "version": 1, "dataset": "kitti", "split": "train", "ssal_version": "...",
     "frames": [{"frame_id", "points_path", "num_point_features", "image_shape", "calib": {P2, R0_rect,
                 Tr_velo_to_cam}, "plane", "annos": {<Annotations fields>} | None, "dontcare": {...} | None,
                 "extra": {...}}, ...]}

OpenPCDet's ``kitti_infos_<split>.pkl`` (a list of per-frame dicts with ``point_cloud``, ``image``, ``calib``,
``annos``) load through the same ``load_infos``: a user who has them regenerates nothing.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ssal import __version__
from ssal.atomic import atomic_write_bytes
from ssal.data.frame import Annotations, FrameInfo, KittiAnnotations, WaymoAnnotations
from ssal.data.kitti_calib import Calibration
from ssal.data.kitti_label import KittiLabels
from ssal.errors import SsalError

FORMAT = "ssal-infos"
VERSION = 1


def save_infos(path: str | os.PathLike, infos: list[FrameInfo], dataset: str, split: str) -> None:
    """Write ``infos`` atomically in our format."""
    payload = {"format": FORMAT, "version": VERSION, "dataset": dataset, "split": split,
               "ssal_version": __version__, "frames": [_frame_to_dict(info) for info in infos]}
    atomic_write_bytes(path, pickle.dumps(payload, protocol=4))


def load_infos(path: str | os.PathLike) -> list[FrameInfo]:
    """Frame infos from our info file or from an OpenPCDet ``kitti_infos_*.pkl``."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            payload = pickle.load(handle)
    except FileNotFoundError:
        raise SsalError("info file not found", path) from None
    except Exception as error:  # a truncated or foreign pickle raises many types
        raise SsalError(f"not a readable info pickle ({error.__class__.__name__}: {error})", path) from None
    return infos_from_payload(payload, path)


def is_ssal_infos(payload) -> bool:
    """Whether an unpickled info file is in our format (else it may be OpenPCDet's)."""
    return isinstance(payload, dict) and payload.get("format") == FORMAT


def infos_from_payload(payload, where) -> list[FrameInfo]:
    """``load_infos`` of an already unpickled file (``where`` names it in errors)."""
    if is_ssal_infos(payload):
        if payload.get("version") != VERSION:
            raise SsalError(f"info format version {payload.get('version')} is not supported (expected {VERSION}); "
                            "regenerate with `ssal data create-infos`", where)
        return [_frame_from_dict(frame, where) for frame in payload["frames"]]
    if isinstance(payload, list) and all(isinstance(f, dict) and "point_cloud" in f for f in payload):
        return [_frame_from_openpcdet(frame, where) for frame in payload]
    raise SsalError("neither an ssal info file nor OpenPCDet kitti infos", where)


def _frame_to_dict(info: FrameInfo) -> dict:
    return {
        "frame_id": info.frame_id, "dataset": info.dataset, "points_path": info.points_path,
        "num_point_features": info.num_point_features, "image_shape": info.image_shape,
        "calib": None if info.calib is None else {"P2": info.calib.P2, "R0_rect": info.calib.R0_rect,
                                                   "Tr_velo_to_cam": info.calib.Tr_velo_to_cam},
        "plane": info.plane,
        "annos": None if info.annos is None else {"type": type(info.annos).__name__, **asdict(info.annos)},
        "dontcare": None if info.dontcare is None else asdict(info.dontcare),
        "extra": info.extra,
    }


_ANNOTATION_TYPES = {cls.__name__: cls for cls in (Annotations, KittiAnnotations, WaymoAnnotations)}


def _frame_from_dict(frame: dict, where) -> FrameInfo:
    try:
        annos = None
        if frame["annos"] is not None:
            values = dict(frame["annos"])
            cls = _ANNOTATION_TYPES[values.pop("type")]
            annos = cls(**values)
        return FrameInfo(
            frame_id=frame["frame_id"], dataset=frame["dataset"], points_path=frame["points_path"],
            num_point_features=frame["num_point_features"],
            image_shape=None if frame["image_shape"] is None else tuple(frame["image_shape"]),
            calib=None if frame["calib"] is None else Calibration.from_matrices(**frame["calib"]),
            plane=frame["plane"], annos=annos,
            dontcare=None if frame["dontcare"] is None else KittiLabels(**frame["dontcare"]),
            extra=frame.get("extra", {}),
        )
    except (KeyError, TypeError) as error:
        raise SsalError(f"frame record {frame.get('frame_id', '?')!r} is malformed ({error})", where) from None


def _frame_from_openpcdet(frame: dict, where) -> FrameInfo:
    try:
        frame_id = str(frame["point_cloud"]["lidar_idx"])
        calib = frame["calib"]
        annos_raw = frame.get("annos")
        folder = "training" if annos_raw is not None else "testing"
        info = FrameInfo(
            frame_id=frame_id, dataset="kitti", points_path=f"{folder}/velodyne/{frame_id}.bin",
            num_point_features=int(frame["point_cloud"].get("num_features", 4)),
            image_shape=tuple(int(v) for v in frame["image"]["image_shape"]),
            calib=Calibration.from_matrices(calib["P2"], calib["R0_rect"], calib["Tr_velo_to_cam"]),
        )
        if annos_raw is not None:
            info.annos, info.dontcare = _split_openpcdet_annos(annos_raw, frame_id, where)
        return info
    except (KeyError, TypeError, ValueError) as error:
        raise SsalError(f"OpenPCDet info for frame {frame.get('point_cloud', {}).get('lidar_idx', '?')!r} "
                        f"lacks {error}", where) from None


def _split_openpcdet_annos(annos: dict, frame_id: str, where) -> tuple[KittiAnnotations, KittiLabels]:
    """OpenPCDet keeps DontCare rows at the end of ``annos``; its LiDAR boxes cover only the rows before them."""
    names = np.asarray(annos["name"]).astype("<U16")
    objects = names != "DontCare"
    count = int(objects.sum())
    if not objects[:count].all() or len(annos["gt_boxes_lidar"]) != count:
        raise SsalError(f"frame {frame_id}: DontCare rows are not last or gt_boxes_lidar has "
                        f"{len(annos['gt_boxes_lidar'])} rows for {count} objects", where)
    columns = {name: np.asarray(annos[name]) for name in
               ("truncated", "occluded", "alpha", "bbox", "dimensions", "location", "rotation_y")}
    kitti = {k: v.astype(np.float64) for k, v in columns.items()}
    kitti["occluded"] = columns["occluded"].astype(np.int64)
    labels = KittiLabels(name=names, **kitti)
    annotations = KittiAnnotations(
        name=names[objects],
        gt_boxes_lidar=np.asarray(annos["gt_boxes_lidar"], dtype=np.float32).reshape(-1, 7),
        difficulty=np.asarray(annos["difficulty"], dtype=np.int32)[objects],
        num_points_in_gt=np.asarray(annos["num_points_in_gt"], dtype=np.int32)[objects],
        **{k: v[objects] for k, v in kitti.items()},
    )
    return annotations, labels.select(~objects)
