"""The CPSP database on disk: object-free backgrounds, ground-truth objects, pseudo objects and hard negatives.

Layout under the database root (``<run>/database``), every path relative to it, so the folder can be moved::

    labelled/          from the labelled frames: GT objects (box-centred points) and GT-free backgrounds
    predictions_<r>/   the model's predictions over the unlabelled pool for round r (``PoolOutputs``)
    pool_<r>/          from the unlabelled frames and round r's model: pseudo objects, BACK_<class> objects and
                       backgrounds (round 0 = the initial build, round r = after the r-th refresh)

A part folder holds ``points.bin`` (every point row of the part, float32, ``num_point_features`` columns,
backgrounds and objects back to back), ``objects.npz`` and ``backgrounds.npz`` (one row per item: where its
points are in ``points.bin``, its box, class, kind and score; per background its frame's ground plane) and
``manifest.json`` (``kind``, ``version``, counts per class and kind, the thresholds, the checkpoint's hash). A part
is written into ``<name>.partial`` and renamed when complete, so a part folder that exists is complete and a run
killed mid-write leaves only a ``.partial`` folder, which the next build removes and rebuilds. Points are read
through a memory map, one item at a time: a Waymo-sized pool is never held in memory.

Rules (SPEC 3.3): a pool frame's background loses every point inside a predicted box scoring above lambda_c
(confident and uncertain regions both leave); a prediction with at least one point becomes a pseudo object when
``score >= tau_c``, a ``BACK_<class>`` object when ``score <= lambda_c``, and nothing in between. The builders
read pool frames through label-free infos (``strip_labels``): nothing here can see the pool's labels.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ssal.atomic import atomic_write_json
from ssal.data.database import frame_ground
from ssal.errors import SsalError
from ssal.file_hash import file_sha256
from ssal.geometry import points_in_boxes, points_in_boxes_index

__all__ = [
    "KIND", "VERSION", "PartWriter", "DatabasePart", "CpspDatabase", "build_labelled_part", "build_pool_part",
    "pool_part_name", "predictions_name", "file_hash", "is_complete", "clear_partial", "back_name",
    "frame_progress", "split_prediction",
]

KIND = "ssal-cpsp-database"
VERSION = 1
BACK_PREFIX = "BACK_"
OBJECT_FIELDS = ("name", "kind", "box", "score", "start", "count", "frame_id", "difficulty")


def back_name(cls: str) -> str:
    return f"{BACK_PREFIX}{cls}"


def pool_part_name(round_index: int) -> str:
    return f"pool_{round_index}"


def predictions_name(round_index: int) -> str:
    return f"predictions_{round_index}"


def file_hash(path: str | os.PathLike) -> str:
    """sha256 of a file (hex, first 16 characters): which checkpoint a part was built with."""
    return file_sha256(path, digits=16)


def is_complete(folder: Path) -> bool:
    """A part (or predictions) folder that exists is complete; its manifest must be of this version."""
    manifest = folder / "manifest.json"
    if not folder.is_dir():
        return False
    if manifest.is_file():
        _check_manifest(_read_json(manifest), manifest)
    return True


def clear_partial(folder: Path) -> None:
    """Remove what a killed run left of ``folder`` (its ``.partial`` twin)."""
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)


class PartWriter:
    """Streams items of one part into ``<folder>.partial``; ``close`` renames it to ``folder``."""

    def __init__(self, folder: str | os.PathLike, num_point_features: int):
        self.folder = Path(folder)
        self.partial = self.folder.with_name(self.folder.name + ".partial")
        if self.partial.exists():
            shutil.rmtree(self.partial)
        self.partial.mkdir(parents=True)
        self.features = num_point_features
        self._points = open(self.partial / "points.bin", "wb")
        self._rows = 0
        self.objects: dict[str, list] = {key: [] for key in OBJECT_FIELDS}
        self.backgrounds: dict[str, list] = {"frame_id": [], "start": [], "count": [], "plane": []}

    def _append_points(self, points: np.ndarray) -> tuple[int, int]:
        rows = np.ascontiguousarray(points[:, : self.features], dtype=np.float32)
        if rows.shape[1] != self.features:
            raise SsalError(f"points have {rows.shape[1]} features, the database {self.features}", self.partial)
        self._points.write(rows.tobytes())
        start, self._rows = self._rows, self._rows + len(rows)
        return start, len(rows)

    def add_background(self, frame_id: str, points: np.ndarray, plane: np.ndarray | None) -> None:
        start, count = self._append_points(points)
        for key, value in (("frame_id", frame_id), ("start", start), ("count", count),
                           ("plane", np.full(4, np.nan) if plane is None else np.asarray(plane, np.float64))):
            self.backgrounds[key].append(value)

    def add_object(self, name: str, kind: str, box: np.ndarray, centred_points: np.ndarray, score: float,
                   frame_id: str, difficulty: int = 0) -> None:
        start, count = self._append_points(centred_points)
        values = {"name": name, "kind": kind, "box": np.asarray(box, np.float32)[:7], "score": float(score),
                  "start": start, "count": count, "frame_id": frame_id, "difficulty": int(difficulty)}
        for key in OBJECT_FIELDS:
            self.objects[key].append(values[key])

    def close(self, manifest: dict) -> Path:
        self._points.close()
        np.savez(self.partial / "objects.npz", **_table(self.objects, {"box": (0, 7)}))
        np.savez(self.partial / "backgrounds.npz", **_table(self.backgrounds, {"plane": (0, 4)}))
        names, kinds = np.asarray(self.objects["name"], dtype=str), np.asarray(self.objects["kind"], dtype=str)
        counts: dict[str, dict[str, int]] = {}
        for kind, name in zip(kinds, names):
            counts.setdefault(kind, {}).setdefault(name, 0)
            counts[kind][name] += 1
        atomic_write_json(self.partial / "manifest.json", {
            "kind": KIND, "version": VERSION, "num_point_features": self.features, "points": self._rows,
            "backgrounds": len(self.backgrounds["frame_id"]), "objects": counts, **manifest})
        if self.folder.exists():
            shutil.rmtree(self.folder)
        os.replace(self.partial, self.folder)
        return self.folder

    def abort(self) -> None:
        self._points.close()
        shutil.rmtree(self.partial, ignore_errors=True)


def _table(columns: dict[str, list], shapes: dict[str, tuple]) -> dict[str, np.ndarray]:
    out = {}
    for key, values in columns.items():
        if key in shapes and not values:
            out[key] = np.zeros(shapes[key], dtype=np.float32)
        elif key in ("name", "kind", "frame_id"):
            out[key] = np.asarray(values, dtype=str)
        else:
            out[key] = np.asarray(values)
    return out


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SsalError(f"cannot read the CPSP database manifest: {error}", path) from None


def _check_manifest(manifest: dict, path: Path) -> None:
    if manifest.get("kind") != KIND:
        raise SsalError(f"not a CPSP database manifest (kind {manifest.get('kind')!r})", path)
    if manifest.get("version") != VERSION:
        raise SsalError(f"CPSP database format version {manifest.get('version')}, this ssal reads version "
                        f"{VERSION}; delete the folder {path.parent.parent} (or use a new --out) to rebuild it", path)


class DatabasePart:
    """One complete part folder, opened lazily: tables in memory, points through a memory map."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        if not (self.folder / "manifest.json").is_file():
            raise SsalError("incomplete CPSP database part (no manifest.json)", self.folder)
        self.manifest = _read_json(self.folder / "manifest.json")
        _check_manifest(self.manifest, self.folder / "manifest.json")
        self.features = int(self.manifest["num_point_features"])
        with np.load(self.folder / "objects.npz") as objects, np.load(self.folder / "backgrounds.npz") as scenes:
            self.objects = {key: objects[key] for key in objects.files}
            self.backgrounds = {key: scenes[key] for key in scenes.files}
        self._points: np.ndarray | None = None

    def __getstate__(self) -> dict:  # loader workers reopen the map instead of receiving a copy of it
        return {**self.__dict__, "_points": None}

    @property
    def points(self) -> np.ndarray:
        if self._points is None:
            rows = int(self.manifest["points"])
            self._points = np.memmap(self.folder / "points.bin", dtype=np.float32, mode="r",
                                     shape=(rows, self.features)) if rows else np.zeros((0, self.features),
                                                                                         np.float32)
        return self._points

    def rows(self, start: int, count: int) -> np.ndarray:
        return np.array(self.points[int(start): int(start) + int(count)], dtype=np.float32)

    def num_objects(self) -> int:
        return len(self.objects["name"])

    def num_backgrounds(self) -> int:
        return len(self.backgrounds["frame_id"])


@dataclass
class SceneObject:
    """An object drawn from the database: its box, class (``BACK_<class>`` for hard negatives), centred points."""

    name: str
    kind: str  # "gt" | "pseudo" | "back"
    box: np.ndarray
    points: np.ndarray
    score: float
    frame_id: str


class CpspDatabase:
    """The labelled part and one pool part, seen as one bank: object pools per name, one background pool."""

    def __init__(self, parts: Sequence[DatabasePart], min_points: dict[str, int] | None = None):
        self.parts = list(parts)
        self.min_points = dict(min_points or {})
        self.pools: dict[str, list[tuple[int, int]]] = {}
        self.scenes: list[tuple[int, int]] = []
        for p, part in enumerate(self.parts):
            table = part.objects
            for i, (name, count, difficulty) in enumerate(zip(table["name"], table["count"], table["difficulty"])):
                # positives need min_points and a known difficulty (KITTI's -1: too small or hidden to rate);
                # a BACK object has >= 1 point by construction
                if not name.startswith(BACK_PREFIX) and (count < self.min_points.get(str(name), 1) or difficulty < 0):
                    continue
                self.pools.setdefault(str(name), []).append((p, i))
            self.scenes += [(p, i) for i in range(part.num_backgrounds())]

    @classmethod
    def open(cls, root: str | os.PathLike, round_index: int | None, min_points: dict[str, int] | None = None
             ) -> CpspDatabase:
        """``root/labelled`` and ``root/pool_<round_index>`` (no pool part when ``round_index`` is None)."""
        root = Path(root)
        parts = [DatabasePart(root / "labelled")]
        if round_index is not None:
            parts.append(DatabasePart(root / pool_part_name(round_index)))
        return cls(parts, min_points)

    def pool_size(self, name: str) -> int:
        return len(self.pools.get(name, []))

    def num_backgrounds(self) -> int:
        return len(self.scenes)

    def background(self, index: int) -> tuple[str, np.ndarray, np.ndarray | None]:
        """(frame id, points (N, F), ground plane (4,) or None) of background ``index``."""
        p, i = self.scenes[index]
        table = self.parts[p].backgrounds
        plane = table["plane"][i]
        return (str(table["frame_id"][i]), self.parts[p].rows(table["start"][i], table["count"][i]),
                None if np.isnan(plane).any() else plane.astype(np.float64))

    def object(self, name: str, index: int) -> SceneObject:
        p, i = self.pools[name][index]
        table = self.parts[p].objects
        return SceneObject(str(table["name"][i]), str(table["kind"][i]), table["box"][i].astype(np.float32),
                           self.parts[p].rows(table["start"][i], table["count"][i]), float(table["score"][i]),
                           str(table["frame_id"][i]))

    def boxes(self, name: str, indices: Iterable[int]) -> np.ndarray:
        """Boxes (n, 7) of objects ``indices`` of pool ``name`` without reading their points."""
        rows = [self.pools[name][i] for i in indices]
        if not rows:
            return np.zeros((0, 7), np.float32)
        return np.stack([self.parts[p].objects["box"][i] for p, i in rows]).astype(np.float32)


# ------------------------------------------------------------------------------------------------- building
def frame_progress(items, total: int, description: str):
    """A progress bar over frames (rank 0, on a terminal only)."""
    from ssal.engine.hooks import progress_enabled

    return tqdm(items, total=total, desc=description, unit="frame", disable=not progress_enabled(0, sys.stderr))


def build_labelled_part(reader, infos, classes: Sequence[str], folder: Path, num_point_features: int,
                        manifest: dict | None = None) -> Path:
    """GT objects of ``classes`` and GT-free backgrounds of the labelled frames ``infos`` (with their labels).

    The background leaves out the points of every labelled box of any class (not only ``classes``), as the
    original does: a pseudo-scene must not show an unlabelled object of a known kind."""
    writer = PartWriter(folder, num_point_features)
    try:
        for info in frame_progress(infos, len(infos), "CPSP database (labelled)"):
            points = reader.load_points(info)
            annos = info.annos
            boxes = np.zeros((0, 7), np.float32) if annos is None else annos.gt_boxes_lidar[:, :7].astype(np.float32)
            owner = points_in_boxes_index(torch.from_numpy(points[:, :3]), torch.from_numpy(boxes)).numpy()
            writer.add_background(info.frame_id, points[owner < 0], frame_ground(info, points))
            for index in range(len(boxes)):
                name = str(annos.name[index])
                if name in classes:
                    centred = points[owner == index].copy()
                    centred[:, :3] -= boxes[index, :3]
                    writer.add_object(name, "gt", boxes[index], centred, 1.0, info.frame_id,
                                      int(annos.difficulty[index]))
        return writer.close({"part": "labelled", "frames": len(infos), **(manifest or {})})
    except BaseException:
        writer.abort()
        raise


def split_prediction(points: np.ndarray, boxes: np.ndarray, scores: np.ndarray, names: Sequence[str],
                     high: dict[str, float], low: dict[str, float]):
    """One pool frame cut into (background points, [(j, centred points) of pseudo boxes], [... of BACK boxes]).

    Background: points in no box with ``score > low``. Pseudo: ``score >= high`` and >= 1 point; BACK:
    ``score <= low`` and >= 1 point (points of a box, exact test, centred on the box, not de-rotated)."""
    lows = np.array([low[n] for n in names], dtype=np.float64)
    highs = np.array([high[n] for n in names], dtype=np.float64)
    # (K, N): one contiguous row per box, so that reading a box's points is not a strided column walk
    inside = points_in_boxes(torch.from_numpy(points[:, :3]), torch.from_numpy(boxes.astype(np.float32))).T.numpy()
    inside = np.ascontiguousarray(inside)
    background = points[~inside[scores > lows].any(axis=0)] if len(boxes) else points
    pseudo, back = [], []
    for j in range(len(boxes)):
        member = inside[j]
        if not member.any() or lows[j] < scores[j] < highs[j]:
            continue
        centred = points[member].copy()
        centred[:, :3] -= boxes[j, :3]
        (pseudo if scores[j] >= highs[j] else back).append((j, centred))
    return background, pseudo, back


def build_pool_part(reader, infos, predictions, classes: Sequence[str], thresholds, folder: Path,
                    num_point_features: int, manifest: dict | None = None) -> Path:
    """Backgrounds, pseudo objects and BACK objects of the unlabelled frames ``infos`` (label-free) from
    ``predictions`` (``PoolOutputs`` covering them) and ``thresholds``."""
    writer = PartWriter(folder, num_point_features)
    try:
        positions = predictions.positions([info.frame_id for info in infos]) if infos else []
        for info, position in frame_progress(zip(infos, positions), len(infos), "CPSP database (pool)"):
            points = reader.load_points(info)
            frame = predictions.frame(int(position))
            names = [classes[int(label) - 1] for label in frame["labels"]]
            background, pseudo, back = split_prediction(points, frame["boxes"], frame["scores"], names,
                                                        thresholds.high, thresholds.low)
            writer.add_background(info.frame_id, background, frame_ground(info, points))
            for j, centred in pseudo:
                writer.add_object(names[j], "pseudo", frame["boxes"][j], centred, frame["scores"][j], info.frame_id)
            for j, centred in back:
                writer.add_object(back_name(names[j]), "back", frame["boxes"][j], centred, frame["scores"][j],
                                  info.frame_id)
        return writer.close({"part": "pool", "frames": len(infos), "thresholds": thresholds.to_dict(),
                             **(manifest or {})})
    except BaseException:
        writer.abort()
        raise
