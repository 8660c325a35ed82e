"""Scatter pillar features onto the dense bird's-eye-view canvas (PointPillars' PointPillarScatter)."""

from __future__ import annotations

from torch import Tensor


def scatter_to_bev(features: Tensor, coords: Tensor, batch_size: int, grid_size: tuple[int, int]) -> Tensor:
    """Place pillar features on an all-zero canvas.

    Args:
        features: (P, C) one vector per pillar.
        coords: (P, 3) ``(batch_index, iy, ix)`` of each pillar, all distinct.
        batch_size: B, frames in the batch (frames without pillars get an empty canvas).
        grid_size: ``(nx, ny)``.

    Returns:
        (B, C, ny, nx) canvas; x runs along the last axis, y along the one before.
    """
    nx, ny = grid_size
    channels = features.shape[1]
    flat = (coords[:, 0] * ny + coords[:, 1]) * nx + coords[:, 2]
    canvas = features.new_zeros(batch_size * ny * nx, channels).index_copy(0, flat, features)
    return canvas.view(batch_size, ny, nx, channels).permute(0, 3, 1, 2).contiguous()
