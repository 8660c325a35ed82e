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
        (B, C, ny, nx) canvas in ``torch.channels_last`` memory format (one pillar's features are contiguous, so
        the scatter writes whole rows; the backbone's convolutions run faster on CPU in this layout too); x runs
        along the last axis, y along the one before.
    """
    nx, ny = grid_size
    canvas = features.new_zeros(batch_size, ny * nx, features.shape[1])
    canvas[coords[:, 0], coords[:, 1] * nx + coords[:, 2]] = features
    return canvas.view(batch_size, ny, nx, -1).permute(0, 3, 1, 2)
