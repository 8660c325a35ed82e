"""Anchor boxes: for every cell of the head's feature map, every class and every rotation, one box of the class's
size standing on its bottom height, centred on the cell."""

from __future__ import annotations

import torch
from torch import Tensor

from ssal.models.config import ModelConfig


def anchors_per_location(cfg: ModelConfig) -> int:
    """A: anchors per feature-map cell (classes x rotations)."""
    return sum(len(a.rotations) for a in cfg.anchor_head.anchors)


def generate_anchors(cfg: ModelConfig, feature_size: tuple[int, int], device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Anchors of a feature map of ``feature_size = (nx_f, ny_f)`` cells covering the point-cloud range.

    Returns:
        anchors: (ny_f * nx_f * A, 7) boxes, ordered (y, x, anchor) so they line up with a head conv's output
            permuted to (B, ny_f, nx_f, A * k); anchor index = class entry * rotations + rotation.
        classes: (ny_f * nx_f * A,) long, the 1-based class id (index in ``class_names`` + 1) of each anchor.
    """
    nx_f, ny_f = feature_size
    x0, y0, _, x1, y1, _ = cfg.point_cloud_range
    xs = x0 + (torch.arange(nx_f, device=device, dtype=dtype) + 0.5) * ((x1 - x0) / nx_f)
    ys = y0 + (torch.arange(ny_f, device=device, dtype=dtype) + 0.5) * ((y1 - y0) / ny_f)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # (ny_f, nx_f)
    shapes, ids = [], []
    for entry in cfg.anchor_head.anchors:
        length, width, height = entry.size
        for rotation in entry.rotations:
            shapes.append([entry.bottom_height + height / 2, length, width, height, rotation])
            ids.append(cfg.class_names.index(entry.class_name) + 1)
    shape = torch.tensor(shapes, device=device, dtype=dtype)  # (A, 5): z, dx, dy, dz, heading
    a = shape.shape[0]
    centres = torch.stack((gx, gy), dim=-1)[:, :, None, :].expand(ny_f, nx_f, a, 2)
    anchors = torch.cat((centres, shape.expand(ny_f, nx_f, a, 5)), dim=-1).reshape(-1, 7)
    classes = torch.tensor(ids, device=device).repeat(ny_f * nx_f)
    return anchors, classes
