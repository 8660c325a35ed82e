"""The camera image of a synthetic frame: a grey depth rendering of the scan, written as a PNG.

KITTI tools read ``image_2`` for its size (the camera field of view), so the file must be a real PNG of the
image size; drawing the projected points (near = bright) also makes it a useful picture. The encoder is a
minimal 8-bit greyscale PNG writer on zlib: deterministic bytes, no imaging library.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from ssal.data.kitti_calib import Calibration

_FAR = 80.0


def depth_image(points: np.ndarray, calib: Calibration, image_shape: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 rendering of LiDAR points (N, 3+): each point a 2 x 3 pixel splat, brighter when nearer."""
    height, width = image_shape
    image = np.zeros((height, width), dtype=np.uint8)
    if not len(points):
        return image
    projection = lidar_to_pixels(calib)
    x, y, z = (points[:, k].astype(np.float64) for k in range(3))
    u, v, depth = (projection[k, 0] * x + projection[k, 1] * y + projection[k, 2] * z + projection[k, 3]
                   for k in range(3))
    front = depth > 0.5
    u = np.floor(u / np.where(front, depth, 1.0)).astype(np.int64)
    v = np.floor(v / np.where(front, depth, 1.0)).astype(np.int64)
    keep = front & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    u, v, depth = u[keep], v[keep], depth[keep]
    shade = (255 * (1.0 - np.clip(depth / _FAR, 0.0, 0.9))).astype(np.uint8)
    flat = image.reshape(-1)
    for dv in (0, 1, 2):  # rings are a few pixels apart: splat downwards so surfaces read as surfaces
        for du in (0, 1):
            rows, cols = np.minimum(v + dv, height - 1), np.minimum(u + du, width - 1)
            np.maximum.at(flat, rows * width + cols, shade)
    return image


def lidar_to_pixels(calib: Calibration) -> np.ndarray:
    """The 3x4 matrix taking homogeneous LiDAR points to homogeneous pixels: P2 @ R0_rect @ Tr_velo_to_cam."""
    velo_to_rect = np.eye(4)
    velo_to_rect[:3, :4] = calib.R0_rect @ calib.Tr_velo_to_cam
    return calib.P2 @ velo_to_rect


def encode_png(image: np.ndarray, level: int = 6) -> bytes:
    """PNG bytes of an (H, W) uint8 greyscale image."""
    height, width = image.shape
    raw = np.concatenate((np.zeros((height, 1), dtype=np.uint8), image), axis=1).tobytes()  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, level))
            + chunk(b"IEND", b""))
