"""Pillarisation and the pillar feature net (PointPillars' PFN), on the model's device.

Points are grouped into vertical pillars with one sort and ``unique_consecutive``; each point is decorated with
its offsets to the mean of its pillar's points and to the pillar's centre, and a shared Linear + BN + ReLU followed
by a max over the pillar's points gives one feature vector per pillar. Points are kept flat (no padding to
``max_points_per_pillar``), so the cost is proportional to the number of points. Which points and pillars a cap keeps
depends only on their values (a fixed hash), never on the order of the points in the file or the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ssal.models.config import ModelConfig
from ssal.models.hashing import hash_rows, mix32


@dataclass
class Pillars:
    """Points grouped into pillars.

    Attributes:
        points: (N, 1 + F) kept points ``[batch_index, x, y, z, features...]``, grouped by pillar.
        point_pillar: (N,) index of each point's pillar (0..P-1).
        coords: (P, 3) ``(batch_index, iy, ix)`` of each pillar, ascending in ``(batch, iy, ix)``.
        source_index: (N,) row of each kept point in the input of ``pillarize``.
    """

    points: Tensor
    point_pillar: Tensor
    coords: Tensor
    source_index: Tensor

    @property
    def num_pillars(self) -> int:
        return self.coords.shape[0]


def pillarize(points: Tensor, cfg: ModelConfig, max_pillars: int) -> Pillars:
    """Group ``points`` (N, 1 + F) ``[batch_index, x, y, z, ...]`` into the pillars of ``cfg``'s grid.

    Points outside the range (or NaN) are dropped. A pillar over ``max_points_per_pillar`` keeps the points with the
    smallest ``hash_rows`` of its values, a frame over ``max_pillars`` the pillars whose cell hashes lowest. Both hashes
    are fixed functions of a point's values and a pillar's cell, so the subset is the same in training and
    inference, whatever the order of the points in the file and the frame's place in the batch. Taking the first
    points in file order instead drops the lower laser rings (scans are stored ring by ring from the top) and pasted
    objects (appended last); dropping the emptiest pillars first removes far objects.
    """
    nx, ny = cfg.grid_size
    x0, y0, z0, x1, y1, z1 = cfg.point_cloud_range
    ix = torch.floor((points[:, 1] - x0) / cfg.voxel_size[0]).long()
    iy = torch.floor((points[:, 2] - y0) / cfg.voxel_size[1]).long()
    z = points[:, 3]
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny) & (z >= z0) & (z <= z1)
    source = torch.nonzero(inside).flatten()
    points, ix, iy = points[source], ix[source], iy[source]
    cells = ny * nx
    key = points[:, 0].long() * cells + iy * nx + ix

    # One sort by (pillar, point hash): key < 2**31 for any batch that fits in memory, the hash < 2**32.
    key, order = torch.sort((key << 32) | hash_rows(points[:, 1:]), stable=True)
    key = key >> 32
    points, source = points[order], source[order]
    pillar_key, point_pillar, counts = torch.unique_consecutive(key, return_inverse=True, return_counts=True)
    rank = torch.arange(key.numel(), device=key.device) - (torch.cumsum(counts, 0) - counts)[point_pillar]
    keep_pillar = _sampled_pillars(pillar_key, cells, max_pillars)
    keep_point = (rank < cfg.vfe.max_points_per_pillar) & keep_pillar[point_pillar]

    # Renumber the surviving pillars 0..P-1 in key order.
    new_index = torch.cumsum(keep_pillar.long(), 0) - 1
    pillar_key = pillar_key[keep_pillar]
    coords = torch.stack((pillar_key // cells, (pillar_key % cells) // nx, pillar_key % nx), dim=1)
    return Pillars(points[keep_point], new_index[point_pillar[keep_point]], coords, source[keep_point])


def _sampled_pillars(pillar_key: Tensor, cells: int, max_pillars: int) -> Tensor:
    """(P,) bool: per frame, at most ``max_pillars`` pillars, those whose cell (not the frame index) hashes
    lowest: a spatially uniform, deterministic sample that leaves near and far objects equal chances."""
    frame = pillar_key // cells
    frame_sizes = torch.bincount(frame)
    if frame_sizes.numel() == 0 or int(frame_sizes.max()) <= max_pillars:
        return torch.ones_like(pillar_key, dtype=torch.bool)
    order = torch.argsort((frame << 32) | mix32(pillar_key % cells))
    starts = torch.cumsum(frame_sizes, 0) - frame_sizes
    rank_in_frame = torch.arange(order.numel(), device=order.device) - starts[frame[order]]
    keep = torch.zeros_like(pillar_key, dtype=torch.bool)
    keep[order] = rank_in_frame < max_pillars
    return keep


class PointNorm(nn.BatchNorm1d):
    """BatchNorm1d that falls back to its running statistics when a training batch has a single row (a frame
    with one point), where batch statistics do not exist."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.shape[0] <= 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)


class PillarVFE(nn.Module):
    """Decorate points, apply the PFN layers, max-pool per pillar.

    Input point features: ``x, y, z`` (if ``use_absolute_xyz``), the extra features, the offset to the pillar's
    point mean (3) and to the pillar's centre (3).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        extra = cfg.num_point_features - 3
        in_channels = extra + 6 + (3 if cfg.vfe.use_absolute_xyz else 0)
        self.layers = nn.ModuleList()
        widths = cfg.vfe.num_filters
        for k, out in enumerate(widths):
            last = k == len(widths) - 1
            # Non-last layers concatenate the pillar max to every point, as PointPillars' PFN does.
            width = out if last else out // 2
            self.layers.append(nn.ModuleDict({
                "linear": nn.Linear(in_channels, width, bias=False),
                "norm": PointNorm(width, eps=1e-3, momentum=cfg.bn_momentum),
            }))
            in_channels = out
        self.out_channels = widths[-1]
        r, v = cfg.point_cloud_range, cfg.voxel_size
        self.register_buffer("_origin", torch.tensor([r[0] + v[0] / 2, r[1] + v[1] / 2, (r[2] + r[5]) / 2]),
                             persistent=False)
        self.register_buffer("_pillar_size", torch.tensor(v[:2]), persistent=False)

    def forward(self, pillars: Pillars) -> Tensor:
        """(P, out_channels) one feature vector per pillar."""
        features = self.decorate(pillars)
        index = pillars.point_pillar
        for k, layer in enumerate(self.layers):
            x = F.relu(layer["norm"](layer["linear"](features)))
            pooled = _segment_max(x, index, pillars.num_pillars)
            features = pooled if k == len(self.layers) - 1 else torch.cat((x, pooled[index]), dim=1)
        return features

    def decorate(self, pillars: Pillars) -> Tensor:
        """(N, C_in) per-point input features."""
        pts = pillars.points
        xyz = pts[:, 1:4]
        n = pillars.num_pillars
        count = torch.zeros(n, device=pts.device, dtype=pts.dtype).index_add_(
            0, pillars.point_pillar, torch.ones_like(xyz[:, 0]))
        total = torch.zeros(n, 3, device=pts.device, dtype=pts.dtype).index_add_(0, pillars.point_pillar, xyz)
        mean = total / count.clamp(min=1)[:, None]
        coords = pillars.coords[pillars.point_pillar]
        centre_xy = self._origin[:2] + coords[:, [2, 1]].to(pts.dtype) * self._pillar_size
        centre = torch.cat((centre_xy, self._origin[2:].expand(len(xyz), 1)), dim=1)
        parts = ([xyz] if self.cfg.vfe.use_absolute_xyz else []) + [pts[:, 4:], xyz - mean[pillars.point_pillar],
                                                                    xyz - centre]
        return torch.cat(parts, dim=1)


def _segment_max(x: Tensor, index: Tensor, size: int) -> Tensor:
    """(size, C) max of the rows of ``x`` (N, C) per ``index`` (N,); inputs are >= 0 (after ReLU), so zeros are a
    neutral start."""
    out = x.new_zeros(size, x.shape[1])
    return out.scatter_reduce(0, index[:, None].expand_as(x), x, reduce="amax", include_self=True)
