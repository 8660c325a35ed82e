"""The pool-outputs store: what a model predicted on every frame of the pool, and all that a strategy may read.

Per frame, the post-processed predictions of one model: ``boxes (K, 7)``, ``scores (K,)`` (the final
detection confidence), ``labels (K,)`` (1-based class ids), ``cls_probs (K, C)`` (the RPN's class
probabilities) and ``roi_features (K, F)`` (the RoI head's shared feature, F = 256 by default); optionally
``mc_boxes (K, P, 7)`` (the box under each of P dropout passes), ``grad_embeddings (K, G)`` (BADGE) and
``num_points (K,)`` (LiDAR points inside each box, for point densities).

On disk it is a folder of ``.npy`` files holding every frame's rows back to back, ``offsets.npy`` (N + 1,)
saying where each frame starts, ``frame_ids.json`` and ``meta.json``. Arrays open memory-mapped, so a pool of
160k frames x 10 boxes x 256 features (float16: 0.8 GB) is never read into memory at once, and strategies work
with segment reductions (``ssal.active.segments``). ``PoolOutputsWriter`` appends frame by frame (streaming from
inference) into ``<folder>.partial`` and renames it when complete, so a folder that exists is complete.

There are no labels here, by design: this and the ledger view are all a strategy receives.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ssal.active.npy_stream import NpyAppender
from ssal.active.segments import box_frame_index, counts_from_offsets, frame_chunks
from ssal.atomic import atomic_write_json
from ssal.errors import SsalError

KIND = "ssal-pool-outputs"
VERSION = 1
REQUIRED = ("boxes", "scores", "labels", "cls_probs", "roi_features")
OPTIONAL = ("mc_boxes", "grad_embeddings", "num_points")
DTYPES = {"boxes": np.float32, "scores": np.float32, "labels": np.int16, "cls_probs": np.float32,
          "roi_features": np.float16, "mc_boxes": np.float32, "grad_embeddings": np.float16,
          "num_points": np.int32}


@dataclass
class PoolOutputs:
    """Predictions of one model on N frames, K boxes in all; box arrays are indexed by ``offsets``."""

    frame_ids: list[str]
    offsets: np.ndarray
    arrays: dict[str, np.ndarray]
    classes: list[str]
    info: dict = field(default_factory=dict)  # where the predictions came from (checkpoint, config hash, ...)
    source: str = "<memory>"

    def __post_init__(self):
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        self._position = None
        self._frame_of_box = None
        _check_consistent(self)

    # ----------------------------------------------------------------------------------------------- access
    @property
    def num_frames(self) -> int:
        return len(self.frame_ids)

    @property
    def num_boxes(self) -> int:
        return int(self.offsets[-1])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        if name in REQUIRED + OPTIONAL:
            raise SsalError(f"the pool outputs have no {name!r} (present: {', '.join(sorted(arrays))})",
                            self.__dict__.get("source"))
        raise AttributeError(name)

    def has(self, name: str) -> bool:
        return name in self.arrays

    def counts(self) -> np.ndarray:
        """(N,) boxes per frame."""
        return counts_from_offsets(self.offsets)

    def frame_of_box(self) -> np.ndarray:
        """(K,) frame index of every box."""
        if self._frame_of_box is None:
            self._frame_of_box = box_frame_index(self.offsets)
        return self._frame_of_box

    def rows(self, index: int) -> slice:
        """The box rows of frame ``index``."""
        return slice(int(self.offsets[index]), int(self.offsets[index + 1]))

    def frame(self, index: int) -> dict[str, np.ndarray]:
        """Every array of frame ``index`` (copied into memory)."""
        rows = self.rows(index)
        return {name: np.asarray(values[rows]) for name, values in self.arrays.items()}

    def positions(self, frame_ids: Sequence[str], what: str = "frames") -> np.ndarray:
        """(M,) indices of ``frame_ids``; an error saying how many (and which) are not in these outputs."""
        if self._position is None:
            self._position = {fid: i for i, fid in enumerate(self.frame_ids)}
        index = [self._position.get(fid, -1) for fid in frame_ids]
        missing = [fid for fid, i in zip(frame_ids, index) if i < 0]
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise SsalError(f"{len(missing)} of {len(frame_ids)} {what} have no predictions here ({shown}); "
                            f"these outputs cover {self.num_frames} frames of another pool or another selection",
                            self.source)
        return np.asarray(index, dtype=np.int64)

    def require(self, names: Iterable[str], who: str) -> None:
        """An error naming what ``who`` needs that these outputs lack."""
        missing = [n for n in names if n not in self.arrays]
        if missing:
            raise SsalError(f"{who} needs {', '.join(missing)} in the pool outputs (present: "
                            f"{', '.join(sorted(self.arrays))}); run pool inference with them", self.source)

    def select(self, indices: Sequence[int]) -> PoolOutputs:
        """A copy (in memory) holding frames ``indices`` in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        counts = self.counts()[indices]
        offsets = np.concatenate(([0], np.cumsum(counts)))
        rows = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in indices]) \
            if len(indices) else np.zeros(0, dtype=np.int64)
        arrays = {name: np.asarray(values[rows]) for name, values in self.arrays.items()}
        return PoolOutputs([self.frame_ids[i] for i in indices], offsets, arrays, list(self.classes), dict(self.info))

    # ---------------------------------------------------------------------------------------- construction
    @classmethod
    def from_frames(cls, classes: Sequence[str], frames: Sequence[tuple[str, dict]], info: dict | None = None
                    ) -> PoolOutputs:
        """In-memory outputs from ``(frame_id, {name: rows})`` pairs (the same fields for every frame)."""
        if not frames:
            raise SsalError("no frames given", "frames")
        names = list(frames[0][1])
        arrays = {}
        for name in names:
            parts = [np.asarray(f[name], dtype=DTYPES.get(name)) for _, f in frames]
            arrays[name] = np.concatenate(parts) if parts else np.zeros(0)
        counts = [len(np.asarray(f["scores"])) for _, f in frames]
        return cls([fid for fid, _ in frames], np.concatenate(([0], np.cumsum(counts))), arrays, list(classes),
                   dict(info or {}))

    @classmethod
    def open(cls, path: str | os.PathLike) -> PoolOutputs:
        """Outputs written by ``PoolOutputsWriter``, memory-mapped."""
        path = Path(path)
        meta_path = path / "meta.json"
        if not meta_path.is_file():
            hint = " (an interrupted write leaves <folder>.partial; run the pool inference again)" \
                if path.with_name(path.name + ".partial").exists() else ""
            raise SsalError(f"not a pool-outputs folder: meta.json is missing{hint}", path)
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as error:
            raise SsalError(f"meta.json is not valid JSON ({error.msg}, line {error.lineno})", meta_path) from None
        if meta.get("kind") != KIND or meta.get("version") != VERSION:
            raise SsalError(f"expected kind {KIND!r} version {VERSION}, got {meta.get('kind')!r} version "
                            f"{meta.get('version')!r}", meta_path)
        frame_ids = json.loads((path / "frame_ids.json").read_text())
        arrays = {}
        for name in meta["arrays"]:
            file = path / f"{name}.npy"
            if not file.is_file():
                raise SsalError(f"{name}.npy is missing although meta.json lists it", path)
            arrays[name] = np.load(file, mmap_mode="r")
        offsets = np.load(path / "offsets.npy")
        return cls(frame_ids, offsets, arrays, list(meta["classes"]), dict(meta.get("info", {})), str(path))

    def save(self, path: str | os.PathLike) -> Path:
        """Write these outputs as a store folder (streaming, chunk by chunk)."""
        fields = {name: values.shape[1:] for name, values in self.arrays.items()}
        with PoolOutputsWriter(path, self.classes, fields, self.info) as writer:
            for start, stop in frame_chunks(self.offsets):
                rows = slice(int(self.offsets[start]), int(self.offsets[stop]))
                block = {name: np.asarray(values[rows]) for name, values in self.arrays.items()}
                writer.append_block(self.frame_ids[start:stop], self.counts()[start:stop], block)
        return Path(path)


class PoolOutputsWriter:
    """Stream frames into a store folder. ``fields``: array name -> shape of one row (e.g. ``{"boxes": (7,),
    "scores": (), ...}``); the required arrays must be among them. Use as a context manager: the folder appears
    only when the block exits without an exception."""

    def __init__(self, path: str | os.PathLike, classes: Sequence[str], fields: dict[str, tuple[int, ...]],
                 info: dict | None = None):
        missing = [n for n in REQUIRED if n not in fields]
        unknown = [n for n in fields if n not in REQUIRED + OPTIONAL]
        if missing or unknown:
            raise ValueError(f"pool outputs fields: missing {missing}, unknown {unknown}")
        self.path = Path(path)
        self.classes = list(classes)
        self.info = dict(info or {})
        self.partial = self.path.with_name(self.path.name + ".partial")
        if self.partial.exists():
            shutil.rmtree(self.partial)
        self.partial.mkdir(parents=True)
        self.fields = {name: tuple(shape) for name, shape in fields.items()}
        self._files = {name: NpyAppender(self.partial / f"{name}.npy", DTYPES[name], shape)
                       for name, shape in self.fields.items()}
        self.frame_ids: list[str] = []
        self._counts: list[int] = []

    def append(self, frame_id: str, **rows: np.ndarray) -> None:
        """One frame's predictions; every field of the writer, each with the same number of rows (0 is fine)."""
        count = len(np.asarray(rows["scores"]))
        self.append_block([frame_id], [count], rows)

    def append_block(self, frame_ids: Sequence[str], counts: Sequence[int], rows: dict[str, np.ndarray]) -> None:
        """Several frames at once: their ids, boxes per frame, and their rows back to back."""
        if set(rows) != set(self.fields):
            raise ValueError(f"expected fields {sorted(self.fields)}, got {sorted(rows)}")
        total = int(np.sum(counts))
        for name, values in rows.items():
            values = np.asarray(values)
            if len(values) != total:
                raise ValueError(f"{name}: {len(values)} rows for {total} boxes")
            self._files[name].append(values.reshape((total,) + self.fields[name]))
        self.frame_ids.extend(str(f) for f in frame_ids)
        self._counts.extend(int(c) for c in counts)

    def close(self) -> Path:
        for appender in self._files.values():
            appender.close()
        duplicates = len(self.frame_ids) - len(set(self.frame_ids))
        if duplicates:
            raise SsalError(f"{duplicates} frame ids were written twice", self.partial)
        offsets = np.concatenate(([0], np.cumsum(self._counts, dtype=np.int64)))
        np.save(self.partial / "offsets.npy", offsets)
        atomic_write_json(self.partial / "frame_ids.json", self.frame_ids)
        atomic_write_json(self.partial / "meta.json", {
            "kind": KIND, "version": VERSION, "classes": self.classes, "num_frames": len(self.frame_ids),
            "num_boxes": int(offsets[-1]), "arrays": list(self.fields), "info": self.info})
        if self.path.exists():
            old = self.path.with_name(self.path.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.path, old)
            os.replace(self.partial, self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        for appender in self._files.values():
            appender.abort()
        shutil.rmtree(self.partial, ignore_errors=True)

    def __enter__(self) -> PoolOutputsWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def merge_outputs(parts: Sequence[PoolOutputs], path: str | os.PathLike, order: Sequence[str] | None = None
                  ) -> Path:
    """Concatenate stores (e.g. one per rank) into one folder, streaming; frames in ``order`` if given (every
    frame id of the parts must appear exactly once in it), else part after part."""
    if not parts:
        raise ValueError("nothing to merge")
    fields = {name: values.shape[1:] for name, values in parts[0].arrays.items()}
    where = {fid: (p, i) for p, part in enumerate(parts) for i, fid in enumerate(part.frame_ids)}
    sequence = list(order) if order is not None else [fid for part in parts for fid in part.frame_ids]
    if len(sequence) != len(where) or set(sequence) != set(where):
        raise SsalError(f"the parts hold {len(where)} frames, the order names {len(sequence)}", str(path))
    with PoolOutputsWriter(path, parts[0].classes, fields, parts[0].info) as writer:
        for fid in sequence:
            p, i = where[fid]
            frame = parts[p].frame(i)
            writer.append(fid, **frame)
    return Path(path)


def _check_consistent(outputs: PoolOutputs) -> None:
    where = outputs.source
    offsets = outputs.offsets
    if offsets.ndim != 1 or len(offsets) != len(outputs.frame_ids) + 1 or offsets[0] != 0 \
            or np.any(np.diff(offsets) < 0):
        raise SsalError(f"offsets must be (N + 1,) non-decreasing from 0 for {len(outputs.frame_ids)} frames", where)
    missing = [n for n in REQUIRED if n not in outputs.arrays]
    if missing:
        raise SsalError(f"missing arrays: {', '.join(missing)}", where)
    total = int(offsets[-1])
    shapes = {"boxes": (7,), "cls_probs": (len(outputs.classes),)}
    for name, values in outputs.arrays.items():
        if len(values) != total:
            raise SsalError(f"{name} has {len(values)} rows, offsets say {total} boxes", where)
        if name in shapes and tuple(values.shape[1:]) != shapes[name]:
            raise SsalError(f"{name} rows have shape {tuple(values.shape[1:])}, expected {shapes[name]}", where)
    if len(set(outputs.frame_ids)) != len(outputs.frame_ids):
        raise SsalError("frame ids repeat", where)
