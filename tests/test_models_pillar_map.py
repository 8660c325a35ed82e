"""PillarMap: bilinear samples of the pillar map read from the pillars equal grid_sample on the scattered canvas."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ssal.models.map_to_bev import scatter_to_bev
from ssal.models.pillar_map import PillarMap


def _pillars(generator: torch.Generator, batch_size: int, nx: int, ny: int, channels: int, per_frame: int):
    coords = []
    for b in range(batch_size):
        cells = torch.randperm(nx * ny, generator=generator)[:per_frame]
        coords.append(torch.stack((torch.full_like(cells, b), cells // nx, cells % nx), dim=1))
    coords = torch.cat(coords)
    return torch.randn(len(coords), channels, generator=generator, dtype=torch.float64), coords


def test_samples_and_gradients_equal_grid_sample_on_the_canvas_inside_at_the_edges_and_off_the_map():
    g = torch.Generator().manual_seed(0)
    batch_size, nx, ny = 3, 13, 9
    features, coords = _pillars(g, batch_size, nx, ny, channels=5, per_frame=60)
    # Sample points over and beyond the map, plus exact cell centres, cell edges and the map's borders.
    grid = torch.rand(batch_size, 7, 11, 2, generator=g, dtype=torch.float64) * 2.6 - 1.3
    grid[:, 0, :4] = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-1 + 1 / nx, -1 + 1 / ny], [0.0, 2 / ny - 1]])
    grid[:, 1, :3] = torch.tensor([[-1 - 1 / nx, 0.2], [1 + 0.5 / nx, -0.4], [0.3, 1 + 0.99 / ny]])

    sparse_features = features.clone().requires_grad_(True)
    sparse = PillarMap(sparse_features, coords, batch_size, (nx, ny)).sample(grid.float())
    dense_features = features.clone().requires_grad_(True)
    canvas = scatter_to_bev(dense_features, coords, batch_size, (nx, ny))
    dense = F.grid_sample(canvas.float(), grid.float(), mode="bilinear", padding_mode="zeros", align_corners=False)

    assert sparse.shape == (batch_size, 7, 11, 5) and sparse.dtype == torch.float32
    torch.testing.assert_close(sparse, dense.permute(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
    weights = torch.randn(sparse.shape, generator=g)
    (sparse * weights).sum().backward()
    (dense.permute(0, 2, 3, 1) * weights).sum().backward()
    torch.testing.assert_close(sparse_features.grad, dense_features.grad, rtol=1e-5, atol=1e-5)
    assert sparse_features.grad.abs().sum() > 0


def test_a_sample_between_an_occupied_and_an_empty_cell_blends_with_zero():
    features = torch.tensor([[2.0, -4.0]])
    coords = torch.tensor([[0, 1, 1]])  # one pillar at (iy 1, ix 1) of a 4 x 3 map
    nx, ny = 4, 3
    centre_x, centre_y = (2 * 1 + 1) / nx - 1, (2 * 1 + 1) / ny - 1  # the pillar's cell centre, normalised
    grid = torch.tensor([[[[centre_x, centre_y], [centre_x + 0.5 * 2 / nx, centre_y], [centre_x + 2 / nx, centre_y]]]])
    out = PillarMap(features, coords, 1, (nx, ny)).sample(grid)
    torch.testing.assert_close(out[0, 0], torch.tensor([[2.0, -4.0], [1.0, -2.0], [0.0, 0.0]]))
