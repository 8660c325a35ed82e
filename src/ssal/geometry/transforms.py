"""Camera <-> LiDAR transforms with KITTI's calibration matrices, on tensors of any float dtype and device.

KITTI's chain: a LiDAR point p maps to the rectified camera frame as ``R0_rect @ (Tr_velo_to_cam @ [p, 1])`` and to
the image as ``P2 @ [p_rect, 1]``. Camera boxes are OpenPCDet's ``(x, y, z, l, h, w, ry)`` in the rectified
camera frame with (x, y, z) the *bottom* centre (KITTI's label convention); LiDAR boxes are centred
(see ``ssal.geometry.boxes``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ssal.geometry.boxes import boxes_to_corners_3d


def _homogeneous(points: Tensor) -> Tensor:
    return torch.cat((points, points.new_ones(points.shape[:-1] + (1,))), dim=-1)


def _velo_to_rect_matrix(tr_velo_to_cam: Tensor, r0_rect: Tensor) -> Tensor:
    """The 4x4 matrix R0_rect @ Tr_velo_to_cam (both given as 3x3/3x4 or padded 4x4)."""
    tr = torch.eye(4, dtype=tr_velo_to_cam.dtype, device=tr_velo_to_cam.device)
    tr[:3, :4] = tr_velo_to_cam[:3, :4]
    r0 = torch.eye(4, dtype=r0_rect.dtype, device=r0_rect.device)
    r0[:3, :3] = r0_rect[:3, :3]
    return r0 @ tr


def lidar_to_camera(points: Tensor, tr_velo_to_cam: Tensor, r0_rect: Tensor) -> Tensor:
    """LiDAR points (N, 3) to the rectified camera frame (N, 3)."""
    matrix = _velo_to_rect_matrix(tr_velo_to_cam.to(points), r0_rect.to(points))
    return _homogeneous(points[:, :3]) @ matrix[:3].T


def camera_to_lidar(points: Tensor, tr_velo_to_cam: Tensor, r0_rect: Tensor) -> Tensor:
    """Rectified camera points (N, 3) to the LiDAR frame (N, 3)."""
    matrix = _velo_to_rect_matrix(tr_velo_to_cam.to(points), r0_rect.to(points))
    return _homogeneous(points[:, :3]) @ torch.linalg.inv(matrix)[:3].T


def camera_to_image(points: Tensor, p2: Tensor) -> tuple[Tensor, Tensor]:
    """Project rectified camera points (N, 3) with P2 (3x4): pixel coordinates (N, 2) and depth (N,).

    The depth is the camera-frame z minus P2's baseline term, as KITTI's tools compute it.
    """
    p2 = p2.to(points)[:3, :4]
    projected = _homogeneous(points[:, :3]) @ p2.T
    depth = projected[:, 2]
    uv = projected[:, :2] / depth[:, None]
    return uv, depth - p2[2, 3]


def boxes_camera_to_lidar(boxes: Tensor, tr_velo_to_cam: Tensor, r0_rect: Tensor) -> Tensor:
    """Camera boxes (N, 7) ``(x, y, z, l, h, w, ry)`` to centred LiDAR boxes (N, 7)."""
    centre = camera_to_lidar(boxes[:, 0:3], tr_velo_to_cam, r0_rect)
    l, h, w, ry = boxes[:, 3], boxes[:, 4], boxes[:, 5], boxes[:, 6]
    centre = centre + torch.stack((torch.zeros_like(h), torch.zeros_like(h), h / 2), dim=-1)
    return torch.cat((centre, torch.stack((l, w, h, -(ry + math.pi / 2)), dim=-1)), dim=-1)


def boxes_lidar_to_camera(boxes: Tensor, tr_velo_to_cam: Tensor, r0_rect: Tensor) -> Tensor:
    """Centred LiDAR boxes (N, 7) to camera boxes (N, 7) ``(x, y, z, l, h, w, ry)`` with a bottom centre."""
    l, w, h, heading = boxes[:, 3], boxes[:, 4], boxes[:, 5], boxes[:, 6]
    bottom = boxes[:, 0:3] - torch.stack((torch.zeros_like(h), torch.zeros_like(h), h / 2), dim=-1)
    centre = lidar_to_camera(bottom, tr_velo_to_cam, r0_rect)
    return torch.cat((centre, torch.stack((l, h, w, -heading - math.pi / 2), dim=-1)), dim=-1)


def boxes_lidar_to_image(
    boxes: Tensor, tr_velo_to_cam: Tensor, r0_rect: Tensor, p2: Tensor, image_shape: tuple[int, int] | None = None
) -> Tensor:
    """The 2-D image box (N, 4) ``(left, top, right, bottom)`` enclosing each LiDAR box's projected corners.

    With ``image_shape`` (height, width) the box is clipped to the image, as KITTI's tools do.
    """
    corners = boxes_to_corners_3d(boxes).reshape(-1, 3)
    uv, _ = camera_to_image(lidar_to_camera(corners, tr_velo_to_cam, r0_rect), p2)
    uv = uv.reshape(-1, 8, 2)
    box2d = torch.cat((uv.min(dim=1).values, uv.max(dim=1).values), dim=-1)
    if image_shape is not None:
        height, width = image_shape
        box2d[:, 0::2] = box2d[:, 0::2].clamp(0, width - 1)
        box2d[:, 1::2] = box2d[:, 1::2].clamp(0, height - 1)
    return box2d
