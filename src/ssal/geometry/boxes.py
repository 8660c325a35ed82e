"""Box conventions and corners.

A box is ``(x, y, z, dx, dy, dz, heading)`` in the LiDAR frame (x forward, y left, z up): the centre of the box,
its length along the heading, width, height, and the heading as a rotation about +z. This is OpenPCDet's
convention, so its users read our boxes without translation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Unit-cube corners, OpenPCDet's order: the bottom face 0-1-2-3, then the top face 4-5-6-7 above it.
_UNIT_CORNERS = (
    (0.5, 0.5, -0.5), (0.5, -0.5, -0.5), (-0.5, -0.5, -0.5), (-0.5, 0.5, -0.5),
    (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (-0.5, -0.5, 0.5), (-0.5, 0.5, 0.5),
)


def rotate_points_z(points: Tensor, angle: Tensor) -> Tensor:
    """Rotate ``points`` (N, K, 3+) about +z by ``angle`` (N,), one angle per batch row. Extra columns are kept."""
    cos, sin = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    x, y = points[..., 0], points[..., 1]
    rotated = torch.stack((x * cos - y * sin, x * sin + y * cos), dim=-1)
    return torch.cat((rotated, points[..., 2:]), dim=-1)


def boxes_to_corners_3d(boxes: Tensor) -> Tensor:
    """Corners of boxes (N, 7) as (N, 8, 3), in the order of ``_UNIT_CORNERS``."""
    unit = boxes.new_tensor(_UNIT_CORNERS)
    corners = unit[None] * boxes[:, None, 3:6]
    corners = rotate_points_z(corners, boxes[:, 6])
    return corners + boxes[:, None, 0:3]


def boxes_to_bev_corners(boxes: Tensor) -> Tensor:
    """Bird's-eye-view corners of boxes (N, 7+) as (N, 4, 2), counter-clockwise."""
    unit = boxes.new_tensor(((0.5, -0.5), (0.5, 0.5), (-0.5, 0.5), (-0.5, -0.5)))
    corners = unit[None] * boxes[:, None, 3:5]
    cos, sin = torch.cos(boxes[:, 6])[:, None], torch.sin(boxes[:, 6])[:, None]
    x, y = corners[..., 0], corners[..., 1]
    rotated = torch.stack((x * cos - y * sin, x * sin + y * cos), dim=-1)
    return rotated + boxes[:, None, 0:2]


def limit_period(angle: Tensor, offset: float = 0.5, period: float = 2 * math.pi) -> Tensor:
    """Wrap angles into ``[-offset * period, (1 - offset) * period)``."""
    return angle - torch.floor(angle / period + offset) * period
