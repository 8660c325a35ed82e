"""The pillar map as its occupied cells: bilinear samples of the scattered canvas without building the canvas.

The RoI head reads the 0.32 m pillar map at a few thousand grid points a batch (``roi_head.pool_pillar_map``), yet
the dense canvas behind ``grid_sample`` is ``B x C x ny x nx`` floats (55 MB for the ``cpu`` preset at batch 4),
written once in the forward pass and once more as the gradient in the backward pass, mostly zeros; on CPU the two
fills alone cost more than the sampling. ``PillarMap.sample`` gathers each sample's four neighbouring pillars
through an index of the occupied cells instead. Its result equals
``F.grid_sample(scatter_to_bev(...), grid, mode="bilinear", padding_mode="zeros", align_corners=False)`` up to float
rounding, and so does its gradient, which flows to the pillar features only (accumulated by ``index``'s backward,
sequential and so deterministic on CPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor


@dataclass
class PillarMap:
    """What ``scatter_to_bev(features, coords, batch_size, grid_size)`` would place on its canvas."""

    features: Tensor  # (P, C) one vector per pillar
    coords: Tensor  # (P, 3) (batch_index, iy, ix), all distinct
    batch_size: int
    grid_size: tuple[int, int]  # (nx, ny)

    @cached_property
    def cells(self) -> Tensor:
        """(B * ny * nx,) long: the pillar in each cell of the canvas, ``P`` (the zero row of ``sample``'s table)
        where there is none. Built once: MC-dropout passes re-sample the same map."""
        nx, ny = self.grid_size
        pillars = self.features.shape[0]
        cells = torch.full((self.batch_size * ny * nx,), pillars, dtype=torch.long, device=self.coords.device)
        cells[(self.coords[:, 0] * ny + self.coords[:, 1]) * nx + self.coords[:, 2]] = torch.arange(
            pillars, device=self.coords.device)
        return cells

    def sample(self, grid: Tensor) -> Tensor:
        """Bilinear samples at ``grid`` (B, H, W, 2) in ``grid_sample``'s normalised coordinates (x, y in [-1, 1]
        from edge to edge of the map; outside it the map reads zero). Returns (B, H, W, C), channels innermost."""
        nx, ny = self.grid_size
        b, h, w, _ = grid.shape
        pillars, channels = self.features.shape
        # Row ``pillars`` of the table is zero: empty cells and cells off the map read it.
        features = self.features.float()
        table = torch.cat((features, features.new_zeros(1, channels)))
        cells = self.cells
        # grid_sample's unnormalisation for align_corners=False: -1 is the left edge of cell 0, +1 the right edge
        # of cell n-1, so cell centres sit at integer positions.
        x = ((grid[..., 0].float() + 1) * nx - 1) / 2
        y = ((grid[..., 1].float() + 1) * ny - 1) / 2
        x0, y0 = x.floor(), y.floor()
        frame = torch.arange(b, device=grid.device).view(b, 1, 1) * ny
        out = None
        for cy, wy in ((y0, y0 + 1 - y), (y0 + 1, y - y0)):
            for cx, wx in ((x0, x0 + 1 - x), (x0 + 1, x - x0)):
                inside = (cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny)
                flat = ((frame + cy.clamp(0, ny - 1).long()) * nx + cx.clamp(0, nx - 1).long())
                rows = torch.where(inside, cells[flat], pillars)
                term = table[rows.view(-1)].view(b, h, w, channels) * (wx * wy).unsqueeze(-1)
                out = term if out is None else out + term
        return out
