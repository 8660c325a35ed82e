"""The infos of a Waymo split as columns: one array per field for all frames, one per field for all boxes.

OpenPCDet's info pickles hold a dict of small arrays per frame; a 160k-frame split is millions of small objects
that take many seconds to unpickle. ``WaymoInfoTable`` holds the same facts in a few dozen arrays (boxes of frame
``i`` are rows ``box_offsets[i]:box_offsets[i + 1]``). Saved as a folder of ``.npy`` columns, it opens
memory-mapped in milliseconds; ``take`` then copies out only the frames a run uses (every k-th one at a sampling
interval k), and ``frame_info`` makes their ``FrameInfo`` records.

Class names and object ids are stored once each and referenced by integer codes. ``unknown`` objects are dropped,
as OpenPCDet drops them when it writes the infos.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ssal.atomic import atomic_write_text
from ssal.data.frame import FrameInfo, WaymoAnnotations
from ssal.data.waymo_layout import frame_file, missing_keys, version_error
from ssal.errors import SsalError

FORMAT = "ssal-waymo-index"
VERSION = 1
LEVEL2_MAX_POINTS = 5  # Waymo: objects with at most this many points are LEVEL_2 whatever their label


@dataclass
class WaymoInfoTable:
    """F frames and M boxes of one split, in split order."""

    frame_id: np.ndarray  # (F,) str
    sequence_code: np.ndarray  # (F,) int32, index into ``sequences``
    sample_idx: np.ndarray  # (F,) int32, the frame's number in its sequence
    num_features: np.ndarray  # (F,) int16, OpenPCDet's point_cloud.num_features
    pose: np.ndarray  # (F, 4, 4) float32 vehicle -> global; NaN where the infos hold none
    timestamp: np.ndarray  # (F,) int64 microseconds, -1 where unknown
    labelled: np.ndarray  # (F,) bool: the frame has annos
    box_offsets: np.ndarray  # (F + 1,) int64
    boxes: np.ndarray  # (M, 7) float32
    name_code: np.ndarray  # (M,) int16, index into ``names``
    level: np.ndarray  # (M,) int8: 2 (LEVEL_2) if labelled 2 or <= 5 points, else 1
    num_points: np.ndarray  # (M,) int32
    tracking_difficulty: np.ndarray  # (M,) int8
    obj_code: np.ndarray  # (M,) int32, index into ``obj_ids``
    speed: np.ndarray  # (M, 2) float32
    accel: np.ndarray  # (M, 2) float32
    sequences: np.ndarray  # (S,) str
    names: np.ndarray  # (C,) str
    obj_ids: np.ndarray  # (K,) str
    split_index: np.ndarray | None = None  # (F,) int64 each frame's place in the whole split (None: its row)

    def __len__(self) -> int:
        return len(self.frame_id)

    def frame_info(self, row: int, tag: str) -> FrameInfo:
        """The ``FrameInfo`` of frame ``row`` (its annotation arrays are views into the columns)."""
        sequence = str(self.sequences[self.sequence_code[row]])
        sample_idx = int(self.sample_idx[row])
        pose = np.asarray(self.pose[row])
        info = FrameInfo(
            frame_id=str(self.frame_id[row]), dataset="waymo", points_path=frame_file(tag, sequence, sample_idx),
            num_point_features=5,
            extra={"sequence": sequence, "sample_idx": sample_idx,
                   "split_index": row if self.split_index is None else int(self.split_index[row]),
                   "pose": None if np.isnan(pose[0, 0]) else pose, "timestamp_micros": int(self.timestamp[row])},
        )
        if self.labelled[row]:
            a, b = self.box_offsets[row], self.box_offsets[row + 1]
            info.annos = WaymoAnnotations(
                name=self.names[self.name_code[a:b]], gt_boxes_lidar=self.boxes[a:b], difficulty=self.level[a:b],
                num_points_in_gt=self.num_points[a:b], obj_ids=self.obj_ids[self.obj_code[a:b]],
                tracking_difficulty=self.tracking_difficulty[a:b], speed_global=self.speed[a:b],
                accel_global=self.accel[a:b],
            )
        return info

    def row_of(self) -> dict[str, int]:
        return {str(frame_id): row for row, frame_id in enumerate(self.frame_id)}

    def take(self, rows: np.ndarray) -> WaymoInfoTable:
        """A table of the frames ``rows`` alone, in memory (from a memory-mapped table, only their pages are read)."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends = self.box_offsets[rows], self.box_offsets[rows + 1]
        counts = ends - starts
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        boxes = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])  # the rows of every box kept
        frame_columns = ("frame_id", "sequence_code", "sample_idx", "num_features", "pose", "timestamp", "labelled")
        box_columns = ("boxes", "name_code", "level", "num_points", "tracking_difficulty", "obj_code", "speed", "accel")
        return WaymoInfoTable(
            **{name: np.asarray(getattr(self, name)[rows]) for name in frame_columns}, box_offsets=offsets,
            **{name: np.asarray(getattr(self, name)[boxes]) for name in box_columns},
            sequences=np.asarray(self.sequences), names=np.asarray(self.names), obj_ids=np.asarray(self.obj_ids),
            split_index=rows if self.split_index is None else np.asarray(self.split_index[rows]),
        )

    # ----------------------------------------------------------------------------------------------- files
    def save(self, folder: str | os.PathLike, sources: list) -> None:
        """Write the table as a folder of ``.npy`` columns and ``header.json`` (format, ``sources`` fingerprint),
        replacing an earlier one; a reader sees the old folder or the new one, or none."""
        folder = Path(folder)
        staging = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            for field in fields(self):
                value = getattr(self, field.name)
                if value is not None:
                    np.save(staging / f"{field.name}.npy", value, allow_pickle=False)
            atomic_write_text(staging / "header.json", json.dumps(_header(sources)))
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @classmethod
    def load(cls, folder: str | os.PathLike, sources: list) -> WaymoInfoTable | None:
        """The table saved in ``folder``, memory-mapped, if it was built from exactly ``sources``; else None."""
        folder = Path(folder)
        try:
            if json.loads((folder / "header.json").read_text()) != _header(sources):
                return None
            columns = {}
            for field in fields(cls):
                path = folder / f"{field.name}.npy"
                if path.is_file() or field.default is not None:
                    columns[field.name] = np.load(path, mmap_mode="r", allow_pickle=False)
            return cls(**columns)
        except Exception:  # absent, half-written or foreign: it is only an index, rebuilt from the pickles
            return None


def _header(sources: list) -> dict:
    """The header of an index built from ``sources``, as JSON gives it back (tuples become lists)."""
    return json.loads(json.dumps({"format": FORMAT, "version": VERSION, "sources": sources}))


class TableBuilder:
    """Collects OpenPCDet frame dicts, sequence by sequence, into a ``WaymoInfoTable``."""

    def __init__(self, tag: str):
        self.tag = tag
        self.frames: dict[str, list] = {key: [] for key in ("frame_id", "sequence_code", "sample_idx", "num_features",
                                                             "pose", "timestamp", "labelled", "box_count")}
        self.boxes: dict[str, list] = {key: [] for key in ("boxes", "name_code", "level", "num_points",
                                                            "tracking_difficulty", "obj_code", "speed", "accel")}
        self.sequence_codes: dict[str, int] = {}
        self.name_codes: dict[str, int] = {}
        self.obj_codes: dict[str, int] = {}

    def add_sequence(self, sequence: str, frames: list, where, first_record: int = 0) -> None:
        """Add the frame dicts of one sequence (``where``/``first_record`` name them in errors)."""
        code = self.sequence_codes.setdefault(sequence, len(self.sequence_codes))
        for offset, frame in enumerate(frames):
            missing = missing_keys(frame)
            if missing:
                raise version_error(missing, first_record + offset, frame, self.tag, where)
            self._add_frame(frame, code, where, first_record + offset)

    def _add_frame(self, frame: dict, sequence_code: int, where, record: int) -> None:
        point_cloud = frame["point_cloud"]
        metadata = frame.get("metadata") or {}
        pose = frame.get("pose")
        self.frames["frame_id"].append(str(frame["frame_id"]))
        self.frames["sequence_code"].append(sequence_code)
        self.frames["sample_idx"].append(int(point_cloud["sample_idx"]))
        self.frames["num_features"].append(int(point_cloud.get("num_features", 5)))
        self.frames["pose"].append(np.full((4, 4), np.nan, np.float32) if pose is None
                                   else np.asarray(pose, dtype=np.float32).reshape(4, 4))
        self.frames["timestamp"].append(int(metadata.get("timestamp_micros", -1)))
        annos = frame.get("annos")
        self.frames["labelled"].append(annos is not None)
        count = 0 if annos is None else self._add_annos(annos, frame, where, record)
        self.frames["box_count"].append(count)

    def _add_annos(self, annos: dict, frame: dict, where, record: int) -> int:
        names = np.asarray(annos["name"]).reshape(-1)
        count = len(names)
        if count == 0:
            return 0
        try:
            boxes = np.asarray(annos["gt_boxes_lidar"], dtype=np.float32).reshape(count, -1)[:, :7]
            difficulty = np.asarray(annos["difficulty"]).reshape(count)
            points = np.asarray(annos["num_points_in_gt"]).reshape(count)
            tracking = _column(annos, "tracking_difficulty", count, (), 0)
            speed = _column(annos, "speed_global", count, (2,), 0.0)
            accel = _column(annos, "accel_global", count, (2,), 0.0)
        except ValueError as error:
            raise SsalError(f"frame record {record} ({frame.get('frame_id', '?')}): annos arrays do not have "
                            f"{count} rows, one per name ({error})", where) from None
        if boxes.shape[1] < 7:
            raise SsalError(f"frame record {record} ({frame.get('frame_id', '?')}): gt_boxes_lidar has "
                            f"{boxes.shape[1]} columns, expected 7 (x, y, z, dx, dy, dz, heading) or 9", where)
        ids = annos.get("obj_ids")
        ids = [""] * count if ids is None else np.asarray(ids).reshape(count).tolist()
        keep = names != "unknown"
        self.boxes["boxes"].append(boxes[keep])
        self.boxes["name_code"].append(_codes(names[keep].tolist(), self.name_codes, np.int16))
        level = np.where((difficulty == 2) | (points <= LEVEL2_MAX_POINTS), 2, 1)
        self.boxes["level"].append(level[keep].astype(np.int8))
        self.boxes["num_points"].append(points[keep].astype(np.int32))
        self.boxes["tracking_difficulty"].append(tracking[keep].astype(np.int8))
        self.boxes["obj_code"].append(_codes([i for i, k in zip(ids, keep) if k], self.obj_codes, np.int32))
        self.boxes["speed"].append(speed[keep].astype(np.float32))
        self.boxes["accel"].append(accel[keep].astype(np.float32))
        return int(keep.sum())

    def build(self) -> WaymoInfoTable:
        f, b = self.frames, self.boxes
        offsets = np.zeros(len(f["box_count"]) + 1, dtype=np.int64)
        np.cumsum(f["box_count"], out=offsets[1:])
        shapes = {"boxes": (0, 7), "speed": (0, 2), "accel": (0, 2)}
        dtypes = {"boxes": np.float32, "name_code": np.int16, "level": np.int8, "num_points": np.int32,
                  "tracking_difficulty": np.int8, "obj_code": np.int32, "speed": np.float32, "accel": np.float32}
        columns = {key: np.concatenate(parts) if parts else np.zeros(shapes.get(key, (0,)), dtypes[key])
                   for key, parts in b.items()}
        return WaymoInfoTable(
            frame_id=np.asarray(f["frame_id"], dtype=str), sequence_code=np.asarray(f["sequence_code"], np.int32),
            sample_idx=np.asarray(f["sample_idx"], np.int32), num_features=np.asarray(f["num_features"], np.int16),
            pose=np.asarray(f["pose"], np.float32).reshape(-1, 4, 4), timestamp=np.asarray(f["timestamp"], np.int64),
            labelled=np.asarray(f["labelled"], bool), box_offsets=offsets, **columns,
            sequences=_names(self.sequence_codes), names=_names(self.name_codes), obj_ids=_names(self.obj_codes),
        )


def _column(annos: dict, key: str, count: int, tail: tuple, fill) -> np.ndarray:
    """``annos[key]`` as (count, *tail), or ``fill`` where the infos lack it (older layouts, empty frames)."""
    value = annos.get(key)
    if value is None or np.size(value) == 0:
        return np.full((count, *tail), fill)
    return np.asarray(value).reshape(count, *tail)


def _codes(values: list, table: dict, dtype) -> np.ndarray:
    return np.array([table.setdefault(v, len(table)) for v in values], dtype=dtype)


def _names(table: dict) -> np.ndarray:
    return np.array(list(table), dtype=str) if table else np.zeros(0, dtype="<U1")
