"""The KITTI object layout::

    ROOT/ImageSets/{train,val,trainval,test}.txt      frame ids, one per line
    ROOT/training/velodyne/NNNNNN.bin                 float32 x, y, z, reflectance
    ROOT/training/label_2/NNNNNN.txt                  KITTI labels (camera frame)
    ROOT/training/calib/NNNNNN.txt                    P2, R0_rect, Tr_velo_to_cam
    ROOT/training/image_2/NNNNNN.png                  read only for its size (the camera field of view)
    ROOT/training/planes/NNNNNN.txt                   optional road planes
    ROOT/testing/...                                  the same without label_2, for split "test"

``KittiDataset`` reads frames from these files, or from info files (ours from ``ssal data create-infos``, or
OpenPCDet's ``kitti_infos_<split>.pkl``) when they exist, since they already hold every label and calibration.
Labels are converted once, here, to centred LiDAR boxes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ssal.data.frame import Frame, FrameInfo, KittiAnnotations
from ssal.data.infos import load_infos
from ssal.data.image_size import read_image_size
from ssal.data.kitti_calib import Calibration
from ssal.data.kitti_difficulty import kitti_difficulty
from ssal.data.kitti_label import read_label_file
from ssal.data.kitti_plane import read_plane
from ssal.data.point_file import read_points
from ssal.data.text_files import read_id_list
from ssal.errors import SsalError
from ssal.geometry import count_points_in_boxes_numpy

class KittiDataset:
    """Frames of a KITTI-layout folder. ``fov_crop``: keep only points inside the camera image (as OpenPCDet
    trains on KITTI, since only objects in the image are labelled). ``info_files``: split -> info pickle to use
    instead of the default locations (see ``info_path``)."""

    name = "kitti"
    num_point_features = 4

    def __init__(self, root: str | os.PathLike, fov_crop: bool = True, info_files: dict[str, str] | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise SsalError("dataset root is not a folder (expected the KITTI object layout: "
                            "training/velodyne, training/label_2, training/calib, ImageSets/)", self.root)
        self.fov_crop = fov_crop
        self.info_files = dict(info_files or {})
        self._infos: dict[str, FrameInfo] = {}

    # ----------------------------------------------------------------------------------------------- splits
    def split_ids(self, split: str) -> list[str]:
        """Frame ids listed in ``ImageSets/<split>.txt``; every id must have a point file, no id may repeat."""
        path = self.root / "ImageSets" / f"{split}.txt"
        if not path.is_file():
            raise SsalError(f"split file not found (splits present: {', '.join(self.available_splits()) or 'none'})",
                            path)
        folder = self.root / _folder(split)
        ids = read_id_list(path, "split file")
        for frame_id, number in ids:
            if not (folder / "velodyne" / f"{frame_id}.bin").is_file():
                raise SsalError(f"line {number}: frame {frame_id} has no point file "
                                f"{_folder(split)}/velodyne/{frame_id}.bin", path)
        return [frame_id for frame_id, _ in ids]

    def available_splits(self) -> list[str]:
        folder = self.root / "ImageSets"
        return sorted(p.stem for p in folder.glob("*.txt")) if folder.is_dir() else []

    # ------------------------------------------------------------------------------------------------ infos
    def info_path(self, split: str) -> Path | None:
        """The info file for ``split``: the configured one, else ours, else OpenPCDet's; None if none exists."""
        if split in self.info_files:
            return Path(self.info_files[split])
        for candidate in (self.root / "ssal_infos" / f"kitti_infos_{split}.pkl",
                          self.root / f"kitti_infos_{split}.pkl"):
            if candidate.is_file():
                return candidate
        return None

    def infos(self, split: str, progress: bool = False, count_points: bool = True,
              use_info_file: bool = True) -> list[FrameInfo]:
        """Infos of every frame of ``split``: from its info file when there is one (unless ``use_info_file`` is
        False), else from the raw files (see ``read_info`` for ``count_points``)."""
        path = self.info_path(split) if use_info_file else None
        if path is not None:
            infos = load_infos(path)
            for info in infos:
                self._infos[info.frame_id] = info
            return infos
        ids = self.split_ids(split)
        return [self.read_info(frame_id, split, count_points) for frame_id in _progress(ids, progress, split)]

    def read_info(self, frame_id: str, split: str = "train", count_points: bool = True) -> FrameInfo:
        """Build a frame's info from its raw files: labels converted to LiDAR boxes, difficulty, and (with
        ``count_points``, which reads the scan) the number of field-of-view points in each box (else -1)."""
        folder = self.root / _folder(split)
        calib = Calibration.from_file(folder / "calib" / f"{frame_id}.txt")
        image_shape = read_image_size(folder / "image_2" / f"{frame_id}.png")
        plane_path = folder / "planes" / f"{frame_id}.txt"
        info = FrameInfo(
            frame_id=frame_id, dataset=self.name, points_path=f"{_folder(split)}/velodyne/{frame_id}.bin",
            num_point_features=self.num_point_features, image_shape=image_shape, calib=calib,
            plane=read_plane(plane_path) if plane_path.is_file() else None,
        )
        label_path = folder / "label_2" / f"{frame_id}.txt"
        if split != "test" or label_path.is_file():
            info.annos, info.dontcare = self._read_annotations(label_path, info, count_points)
        if count_points:
            self._infos[frame_id] = info
        return info

    def _read_annotations(self, label_path: Path, info: FrameInfo, count_points: bool):
        labels = read_label_file(label_path, with_score=False)
        is_object = labels.name != "DontCare"
        objects = labels.select(is_object)
        boxes = info.calib.boxes_camera_to_lidar(objects.camera_boxes()).astype(np.float32)
        annos = KittiAnnotations(
            name=objects.name, gt_boxes_lidar=boxes,
            difficulty=kitti_difficulty(objects.bbox, objects.occluded, objects.truncated),
            num_points_in_gt=self._count_points(info, boxes) if count_points else np.full(len(boxes), -1, np.int32),
            truncated=objects.truncated, occluded=objects.occluded, alpha=objects.alpha, bbox=objects.bbox,
            dimensions=objects.dimensions, location=objects.location, rotation_y=objects.rotation_y,
        )
        return annos, labels.select(~is_object)

    def _count_points(self, info: FrameInfo, boxes: np.ndarray) -> np.ndarray:
        points = self.load_points(info, fov_only=True)
        # float64, as OpenPCDet counts: a float32 test flips points that lie on a face.
        return count_points_in_boxes_numpy(points[:, :3].astype(np.float64), boxes.astype(np.float64)).astype(np.int32)

    def info(self, frame_id: str) -> FrameInfo:
        """The info of a frame already seen through ``infos``/``read_info``, else read from its raw files."""
        return self._infos.get(frame_id) or self.read_info(frame_id)

    # ----------------------------------------------------------------------------------------------- points
    def load_points(self, info: FrameInfo, fov_only: bool | None = None) -> np.ndarray:
        """Points (N, 4) of a frame; cropped to the camera field of view when ``fov_only`` (default: the
        dataset's ``fov_crop``)."""
        points = read_points(self.root / info.points_path, info.num_point_features)
        if self.fov_crop if fov_only is None else fov_only:
            points = points[info.calib.fov_mask(points, info.image_shape)]
        return points

    def read_points(self, frame_id: str, fov_only: bool | None = None) -> np.ndarray:
        return self.load_points(self.info(frame_id), fov_only)

    def load_frame(self, info: FrameInfo) -> Frame:
        return Frame(info=info, points=self.load_points(info))


def _folder(split: str) -> str:
    return "testing" if split == "test" else "training"


def _progress(items, enabled: bool, description: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=description, unit="frame", disable=None)  # silent when not a terminal
