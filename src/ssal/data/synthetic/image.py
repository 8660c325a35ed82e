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
    uv, depth = calib.lidar_to_image(points[:, :3].astype(np.float64))
    u, v = np.floor(uv[:, 0]).astype(np.int64), np.floor(uv[:, 1]).astype(np.int64)
    keep = (depth > 0.5) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    u, v, depth = u[keep], v[keep], depth[keep]
    shade = (255 * (1.0 - np.clip(depth / _FAR, 0.0, 0.9))).astype(np.uint8)
    flat = image.reshape(-1)
    for dv in (0, 1, 2):  # rings are a few pixels apart: splat downwards so surfaces read as surfaces
        for du in (0, 1):
            rows, cols = np.minimum(v + dv, height - 1), np.minimum(u + du, width - 1)
            np.maximum.at(flat, rows * width + cols, shade)
    return image


def encode_png(image: np.ndarray, level: int = 6) -> bytes:
    """PNG bytes of an (H, W) uint8 greyscale image."""
    height, width = image.shape
    raw = np.concatenate((np.zeros((height, 1), dtype=np.uint8), image), axis=1).tobytes()  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, level))
            + chunk(b"IEND", b""))
