"""Waymo Open Dataset frames as OpenPCDet's processing leaves them (``ssal.data.waymo_layout`` lists the files).

``WaymoDataset`` offers the interface of ``KittiDataset`` (splits, infos, points), so that every command works on
either. What it reproduces of OpenPCDet's ``WaymoDataset``:

* a split is the frames of the sequences in ``ImageSets/<split>.txt``, sequence after sequence, and a sampling
  interval k keeps every k-th frame of that list (``SAMPLED_INTERVAL``; the paper trains on every 20th);
* points are x, y, z, tanh(intensity), elongation (5 features); points in no-label zones are kept, or dropped
  with ``drop_nlz_points`` (``DISABLE_NLZ_FLAG_ON_POINTS`` False);
* ``unknown`` objects are dropped; LEVEL_2 are the objects labelled so or holding <= 5 points, the others
  LEVEL_1 (``WaymoAnnotations.difficulty``). Sign objects are kept in the infos; a run ignores every class it
  does not configure (no training, no cost, no evaluation).

Infos come from, in this order: ``info_files[split]`` (ours or OpenPCDet's), ``ROOT/ssal_infos/
waymo_infos_<split>.pkl`` (``ssal data create-infos``), OpenPCDet's ``<tag>_infos_<split>.pkl``, or the
per-sequence pickles. OpenPCDet's pickles are read once into a columnar index (``ssal_infos/waymo_index_<split>/``,
rebuilt whenever a source file changes; ``ssal.data.waymo_table``) that later runs open memory-mapped, copying
out only the sampled frames. Points are read frame by frame, when a frame is used.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import numpy as np

from ssal.data.frame import Frame, FrameInfo
from ssal.data.infos import infos_from_payload, is_ssal_infos
from ssal.data.waymo_layout import (
    DEFAULT_TAG,
    OUTSIDE_NLZ,
    missing_keys,
    point_file_rows,
    read_point_file,
    read_split_sequences,
    sequence_folder_name,
    sequence_info_file,
    split_file,
    split_info_file,
    version_error,
)
from ssal.data.waymo_table import TableBuilder, WaymoInfoTable
from ssal.errors import SsalError

_log = logging.getLogger(__name__)


class WaymoDataset:
    """Frames of an OpenPCDet-processed Waymo folder. ``sampled_interval``: split -> k (every k-th frame; splits
    not named keep all); ``info_files``: split -> info pickle to use instead of the default places;
    ``index_cache``: keep the columnar index of OpenPCDet's pickles in ``ROOT/ssal_infos`` (skipped when the
    folder cannot be written)."""

    name = "waymo"
    num_point_features = 5

    def __init__(self, root: str | os.PathLike, sampled_interval: dict[str, int] | None = None,
                 drop_nlz_points: bool = False, info_files: dict[str, str] | None = None,
                 processed_data_tag: str = DEFAULT_TAG, index_cache: bool = True):
        self.root = Path(root)
        if not self.root.is_dir():
            raise SsalError("dataset root is not a folder (expected OpenPCDet's processed Waymo layout: "
                            f"ImageSets/, {processed_data_tag}/<sequence>/)", self.root)
        self.sampled_interval = dict(sampled_interval or {})
        for split, interval in self.sampled_interval.items():
            if isinstance(interval, bool) or not isinstance(interval, (int, np.integer)) or interval < 1:
                raise SsalError(f"expected an integer >= 1, got {interval!r}", f"sampled_interval.{split}")
        self.drop_nlz_points = drop_nlz_points
        self.info_files = dict(info_files or {})
        self.tag = processed_data_tag
        self.index_cache = index_cache
        self._every_frame: dict[str, list[FrameInfo]] = {}  # split -> all frames of our info file
        self._split_infos: dict[str, list[FrameInfo]] = {}
        self._infos: dict[str, FrameInfo] = {}

    # ----------------------------------------------------------------------------------------------- splits
    def split_ids(self, split: str) -> list[str]:
        """Frame ids of ``split`` after sampling, in split order (the frames ``infos`` returns)."""
        return [info.frame_id for info in self.infos(split)]

    def available_splits(self) -> list[str]:
        folder = self.root / "ImageSets"
        return sorted(p.stem for p in folder.glob("*.txt")) if folder.is_dir() else []

    def interval(self, split: str) -> int:
        return int(self.sampled_interval.get(split, 1))

    # ------------------------------------------------------------------------------------------------ infos
    def info_path(self, split: str) -> Path | None:
        """The info file for ``split``: the configured one, else ours, else OpenPCDet's split pickle; None when
        the per-sequence pickles are the source."""
        if split in self.info_files:
            return Path(self.info_files[split])
        for candidate in (self.root / "ssal_infos" / f"waymo_infos_{split}.pkl",
                          split_info_file(self.root, self.tag, split)):
            if candidate.is_file():
                return candidate
        return None

    def infos(self, split: str, progress: bool = False, count_points: bool = True,
              use_info_file: bool = True) -> list[FrameInfo]:
        """Infos of every sampled frame of ``split``, from its info file (unless ``use_info_file`` is False:
        then from the per-sequence pickles). Each frame's point file must exist. ``count_points`` is accepted
        for ``KittiDataset``'s sake: Waymo infos always hold the points in each box."""
        key = f"{split}|{use_info_file}"
        if key not in self._split_infos:
            infos = self._read_split(split, use_info_file, progress)
            self._check_point_files(infos, split)
            self._split_infos[key] = infos
            self._infos.update((info.frame_id, info) for info in infos)
        return list(self._split_infos[key])

    def _read_split(self, split: str, use_info_file: bool, progress: bool) -> list[FrameInfo]:
        path = self.info_path(split) if use_info_file else None
        table = self._table(split, path, progress)
        if isinstance(table, list):  # our info file: FrameInfos already, each with its place in the split
            self._every_frame[split] = table
            return _sample_ours(table, self.interval(split))
        sampled = table.take(np.arange(0, len(table), self.interval(split)))
        return [sampled.frame_info(row, self.tag) for row in range(len(sampled))]

    def _table(self, split: str, path: Path | None, progress: bool = False) -> WaymoInfoTable | list[FrameInfo]:
        """Every frame of ``split``: the (memory-mapped) index of OpenPCDet's pickles, built when missing or
        stale, or the FrameInfos of our info file at ``path``."""
        sources = self._fingerprint(split, path)
        table = self._cached_table(split, sources)
        if table is not None:
            return table
        payload = self._unpickle(path) if path is not None else None
        if is_ssal_infos(payload):
            return infos_from_payload(payload, path)
        table = self._build_table(split, path, payload, progress)
        self._store_table(split, table, sources)
        return table

    def read_info(self, frame_id: str, split: str = "train", count_points: bool = True) -> FrameInfo:
        """The info of one frame of ``split``, sampled or not."""
        if frame_id in self._infos:
            return self._infos[frame_id]
        every = self._every_frame.get(split) or self._table(split, self.info_path(split))
        if isinstance(every, WaymoInfoTable):
            row = every.row_of().get(frame_id)
            info = None if row is None else every.take([row]).frame_info(0, self.tag)
        else:
            info = next((i for i in every if i.frame_id == frame_id), None)
        if info is None:
            raise SsalError(f"frame {frame_id} is not in split {split!r}", self.info_path(split) or self.root)
        self._infos[frame_id] = info
        return info

    def info(self, frame_id: str) -> FrameInfo:
        """The info of a frame already seen through ``infos``/``read_info``, else looked up in the train split."""
        return self._infos.get(frame_id) or self.read_info(frame_id)

    # ----------------------------------------------------------------------------------------------- points
    def load_points(self, info: FrameInfo, fov_only: bool | None = None) -> np.ndarray:
        """Points (N, 5) float32: x, y, z, tanh(intensity), elongation (vehicle frame). ``fov_only`` is
        ignored: Waymo labels cover the whole 360 degree scan."""
        raw = read_point_file(self.root / info.points_path)
        if self.drop_nlz_points:
            raw = raw[raw[:, 5] == OUTSIDE_NLZ]
        points = np.ascontiguousarray(raw[:, :5])
        points[:, 3] = np.tanh(points[:, 3])
        return points

    def read_points(self, frame_id: str, fov_only: bool | None = None) -> np.ndarray:
        return self.load_points(self.info(frame_id), fov_only)

    def load_frame(self, info: FrameInfo) -> Frame:
        return Frame(info=info, points=self.load_points(info))

    def count_points(self, info: FrameInfo) -> int:
        """Points in the frame's file (every LiDAR, NLZ points included), read from its header alone."""
        return point_file_rows(self.root / info.points_path)

    # --------------------------------------------------------------------------------- index of OpenPCDet's
    def _fingerprint(self, split: str, path: Path | None) -> list:
        """What the index of ``split`` depends on: the split file and the info pickles (size, mtime)."""
        files = [split_file(self.root, split)]
        if path is not None:
            files.append(path)
        else:
            for sequence in read_split_sequences(self.root, split):
                folder = sequence_folder_name(self.root, self.tag, sequence) or sequence
                files.append(sequence_info_file(self.root, self.tag, folder))
        return [self.tag] + [_stat(f) for f in files]

    def _index_path(self, split: str) -> Path:
        return self.root / "ssal_infos" / f"waymo_index_{split}"

    def _cached_table(self, split: str, sources: list) -> WaymoInfoTable | None:
        return WaymoInfoTable.load(self._index_path(split), sources) if self.index_cache else None

    def _store_table(self, split: str, table: WaymoInfoTable, sources: list) -> None:
        if not self.index_cache:
            return
        try:
            table.save(self._index_path(split), sources)
        except OSError as error:  # a read-only dataset: reading the pickles again next time is all it costs
            _log.info("could not write the Waymo index %s (%s)", self._index_path(split), error)

    def _unpickle(self, path: Path):
        try:
            with open(path, "rb") as handle:
                return pickle.load(handle)
        except FileNotFoundError:
            raise SsalError("info file not found", path) from None
        except Exception as error:  # a truncated or foreign pickle raises many types
            raise SsalError(f"not a readable info pickle ({error.__class__.__name__}: {error})", path) from None

    def _build_table(self, split: str, path: Path | None, payload, progress: bool) -> WaymoInfoTable:
        sequences = read_split_sequences(self.root, split)
        builder = TableBuilder(self.tag)
        if path is None:
            for sequence in _progress(sequences, progress, split):
                folder = sequence_folder_name(self.root, self.tag, sequence)
                if folder is None:
                    raise SsalError(f"sequence {sequence} has no folder {self.tag}/{sequence}/",
                                    split_file(self.root, split))
                source = sequence_info_file(self.root, self.tag, folder)
                frames = self._unpickle(source)
                if not isinstance(frames, list):
                    raise SsalError(f"expected a list of frame dicts, got {type(frames).__name__}", source)
                builder.add_sequence(folder, frames, source)
            return builder.build()
        if not isinstance(payload, list):
            raise SsalError("neither an ssal info file nor OpenPCDet's Waymo infos (a list of frame dicts)", path)
        grouped = _group_by_sequence(payload, path, self.tag)
        unknown = [s for s in sequences if _match(s, grouped) is None]
        if unknown:
            shown = ", ".join(unknown[:3]) + (", ..." if len(unknown) > 3 else "")
            raise SsalError(f"{len(unknown)} sequence(s) of the split are not in {path.name}: {shown} (regenerate "
                            "the split infos, or remove the file to read the per-sequence pickles)",
                            split_file(self.root, split))
        for sequence in sequences:
            name = _match(sequence, grouped)
            first, frames = grouped[name]
            builder.add_sequence(name, frames, path, first)
        return builder.build()

    def _check_point_files(self, infos: list[FrameInfo], split: str) -> None:
        """Every frame's point file exists (one folder listing per sequence)."""
        listing: dict[str, set[str] | None] = {}
        for info in infos:
            folder, name = os.path.split(info.points_path)
            if folder not in listing:
                try:
                    listing[folder] = set(os.listdir(self.root / folder))
                except (FileNotFoundError, NotADirectoryError):
                    listing[folder] = None
            if listing[folder] is None:
                raise SsalError(f"sequence folder {folder}/ of frame {info.frame_id} (split {split!r}) does not "
                                "exist", self.root / folder)
            if name not in listing[folder]:
                raise SsalError(f"frame {info.frame_id} (split {split!r}) has no point file", self.root / folder / name)


def _stat(path: Path) -> tuple:
    try:
        status = path.stat()
    except OSError:
        return (str(path), None, None)
    return (str(path), status.st_size, status.st_mtime_ns)


def _group_by_sequence(frames: list, path: Path, tag: str) -> dict[str, tuple[int, list]]:
    """Sequence -> (index of its first record, its frame dicts), in file order."""
    grouped: dict[str, tuple[int, list]] = {}
    for record, frame in enumerate(frames):
        try:
            sequence = str(frame["point_cloud"]["lidar_sequence"])
        except (KeyError, TypeError):
            raise version_error(missing_keys(frame) or ["point_cloud.lidar_sequence"], record, frame, tag,
                                path) from None
        grouped.setdefault(sequence, (record, []))[1].append(frame)
    return grouped


def _match(sequence: str, grouped: dict) -> str | None:
    for name in (sequence, sequence.removesuffix("_with_camera_labels")):
        if name in grouped:
            return name
    return None


def _sample_ours(infos: list[FrameInfo], interval: int) -> list[FrameInfo]:
    """Every ``interval``-th frame of the split, by each frame's place in the whole split (so that a file
    written from an already sampled split samples the same frames again)."""
    if interval == 1:
        return infos
    return [info for position, info in enumerate(infos)
            if int(info.extra.get("split_index", position)) % interval == 0]


def _progress(items, enabled: bool, description: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=description, unit="sequence", disable=None)
