"""KITTI calibration files (``calib/*.txt``): the matrices that tie the LiDAR to camera 2.

``Calibration`` parses and writes the file and offers the transforms of ``ssal.geometry.transforms`` on numpy
arrays (computed in float64, as KITTI's and OpenPCDet's tools do, so that point counts in boxes agree exactly).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from ssal.data.text_files import read_text
from ssal.errors import SsalError
from ssal.geometry import transforms

_REQUIRED = {"P2": (3, 4), "R0_rect": (3, 3), "Tr_velo_to_cam": (3, 4)}
_FILE_ORDER = ("P0", "P1", "P2", "P3", "R0_rect", "Tr_velo_to_cam", "Tr_imu_to_velo")


@dataclass
class Calibration:
    P2: np.ndarray  # (3, 4) projection of rectified camera-2 coordinates to pixels
    R0_rect: np.ndarray  # (3, 3) rectifying rotation
    Tr_velo_to_cam: np.ndarray  # (3, 4) LiDAR to (unrectified) camera 0
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # P0, P1, P3, Tr_imu_to_velo when the file has them

    @classmethod
    def from_matrices(cls, P2, R0_rect, Tr_velo_to_cam, **extra) -> "Calibration":
        """From arrays of 3x3/3x4 or OpenPCDet's padded 4x4 form."""
        return cls(
            P2=np.asarray(P2, dtype=np.float64)[:3, :4].copy(),
            R0_rect=np.asarray(R0_rect, dtype=np.float64)[:3, :3].copy(),
            Tr_velo_to_cam=np.asarray(Tr_velo_to_cam, dtype=np.float64)[:3, :4].copy(),
            extra={k: np.asarray(v, dtype=np.float64) for k, v in extra.items()},
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Calibration":
        return cls.from_text(read_text(path, "calibration file"), path)

    @classmethod
    def from_text(cls, text: str, where: str | os.PathLike = "<calib>") -> "Calibration":
        matrices: dict[str, np.ndarray] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, rest = line.partition(":")
            if not sep:
                raise SsalError(f"line {number} is not 'KEY: values'", where)
            try:
                matrices[key.strip()] = np.array([float(v) for v in rest.split()], dtype=np.float64)
            except ValueError:
                raise SsalError(f"line {number} ({key.strip()}) holds a value that is not a number", where) from None
        required = {}
        for key, shape in _REQUIRED.items():
            values = matrices.pop(key, None)
            if values is None:
                raise SsalError(f"missing {key}", where)
            if values.size != shape[0] * shape[1]:
                raise SsalError(f"{key} has {values.size} values, expected {shape[0] * shape[1]}", where)
            if not np.isfinite(values).all():
                raise SsalError(f"{key} holds NaN or infinite values", where)
            required[key] = values.reshape(shape)
        return cls(**required, extra=matrices)

    def to_text(self) -> str:
        """The file text, in KITTI's key order and number format."""
        values = {"P2": self.P2, "R0_rect": self.R0_rect, "Tr_velo_to_cam": self.Tr_velo_to_cam, **self.extra}
        keys = [k for k in _FILE_ORDER if k in values] + [k for k in values if k not in _FILE_ORDER]
        return "".join(f"{k}: " + " ".join(f"{v:.12e}" for v in np.ravel(values[k])) + "\n" for k in keys)

    # Transforms on numpy arrays (float64 in, float64 out).
    def lidar_to_camera(self, points: np.ndarray) -> np.ndarray:
        return _np(transforms.lidar_to_camera(_t(points[:, :3]), _t(self.Tr_velo_to_cam), _t(self.R0_rect)))

    def camera_to_lidar(self, points: np.ndarray) -> np.ndarray:
        return _np(transforms.camera_to_lidar(_t(points[:, :3]), _t(self.Tr_velo_to_cam), _t(self.R0_rect)))

    def lidar_to_image(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (N, 2) and depth (N,) of LiDAR points."""
        rect = transforms.lidar_to_camera(_t(points[:, :3]), _t(self.Tr_velo_to_cam), _t(self.R0_rect))
        uv, depth = transforms.camera_to_image(rect, _t(self.P2))
        return _np(uv), _np(depth)

    def boxes_camera_to_lidar(self, boxes: np.ndarray) -> np.ndarray:
        return _np(transforms.boxes_camera_to_lidar(_t(boxes), _t(self.Tr_velo_to_cam), _t(self.R0_rect)))

    def boxes_lidar_to_camera(self, boxes: np.ndarray) -> np.ndarray:
        return _np(transforms.boxes_lidar_to_camera(_t(boxes), _t(self.Tr_velo_to_cam), _t(self.R0_rect)))

    def boxes_lidar_to_image(self, boxes: np.ndarray, image_shape: tuple[int, int] | None = None) -> np.ndarray:
        return _np(transforms.boxes_lidar_to_image(
            _t(boxes), _t(self.Tr_velo_to_cam), _t(self.R0_rect), _t(self.P2), image_shape))

    def fov_mask(self, points: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
        """Points that project inside the image (height, width) in front of the camera, as OpenPCDet crops
        KITTI scans for training."""
        uv, depth = self.lidar_to_image(points)
        height, width = image_shape
        return (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height) & (depth >= 0)


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.numpy()
