"""The backbone's first convolution computed from the pillars: it must be the dense convolution of the scattered
canvas, forward and backward, at the grid's borders, for any stride, with empty frames, and under autocast."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ssal.models.bev_backbone import BevBackbone
from ssal.models.config import BevBackboneConfig
from ssal.models.map_to_bev import scatter_to_bev
from ssal.models.pillar_conv import pillar_conv


def _pillars(batch_size: int, nx: int, ny: int, per_frame: int, seed: int = 0):
    """Random distinct cells per frame, always including the four corners (where padding matters)."""
    g = torch.Generator().manual_seed(seed)
    coords = []
    for b in range(batch_size):
        corners = torch.tensor([0, nx - 1, (ny - 1) * nx, ny * nx - 1])
        rest = torch.randperm(ny * nx, generator=g)[:per_frame]
        cells = torch.unique(torch.cat((corners, rest)))
        cells = cells[torch.randperm(len(cells), generator=g)]  # pillars come in no particular order
        coords.append(torch.stack((torch.full_like(cells, b), cells // nx, cells % nx), dim=1))
    coords = torch.cat(coords)
    return torch.randn(len(coords), 6, generator=g), coords


def _dense_and_sparse(features, coords, weight, batch_size, grid, stride, padding, grad_out=None):
    results = []
    for sparse in (False, True):
        f = features.clone().requires_grad_()
        w = weight.clone().requires_grad_()
        if sparse:
            out = pillar_conv(f, coords, w, batch_size, grid, stride, padding)
        else:
            out = F.conv2d(scatter_to_bev(f, coords, batch_size, grid), w, stride=stride, padding=padding)
        g = grad_out if grad_out is not None else torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
        out.backward(g)
        results.append((out.detach(), f.grad, w.grad))
    return results


@pytest.mark.parametrize("stride, padding, kernel, nx, ny", [(2, 1, 3, 12, 10), (2, 1, 3, 11, 9), (1, 1, 3, 7, 8),
                                                             (3, 0, 2, 10, 13)])
def test_equals_the_dense_convolution_of_the_canvas_forward_and_backward(stride, padding, kernel, nx, ny):
    features, coords = _pillars(3, nx, ny, per_frame=25)
    weight = torch.randn(5, 6, kernel, kernel, generator=torch.Generator().manual_seed(2))
    (dense, dense_gf, dense_gw), (sparse, sparse_gf, sparse_gw) = _dense_and_sparse(
        features, coords, weight, 3, (nx, ny), stride, padding)
    assert sparse.shape == dense.shape
    torch.testing.assert_close(sparse, dense, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sparse_gf, dense_gf, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sparse_gw, dense_gw, rtol=1e-5, atol=1e-4)


def test_empty_frames_give_zero_maps_and_no_weight_gradient():
    features, coords = _pillars(1, 8, 8, per_frame=10)
    coords[:, 0] = 1  # frame 0 and frame 2 hold no pillar
    weight = torch.randn(4, 6, 3, 3)
    out = pillar_conv(features, coords, weight, 3, (8, 8), 2, 1)
    assert out[0].abs().sum() == 0 and out[2].abs().sum() == 0 and out[1].abs().sum() > 0
    nothing = pillar_conv(torch.zeros(0, 6, requires_grad=True), torch.zeros(0, 3, dtype=torch.long),
                          weight.clone().requires_grad_(), 2, (8, 8), 2, 1)
    assert nothing.shape == (2, 4, 4, 4) and nothing.abs().sum() == 0


def test_same_pillars_in_another_order_give_the_same_bits():
    features, coords = _pillars(2, 16, 16, per_frame=60)
    weight = torch.randn(4, 6, 3, 3)
    shuffle = torch.randperm(len(coords), generator=torch.Generator().manual_seed(3))
    out = pillar_conv(features, coords, weight, 2, (16, 16), 2, 1)
    again = pillar_conv(features[shuffle], coords[shuffle], weight, 2, (16, 16), 2, 1)
    assert torch.equal(out, again)


def test_backbone_from_pillars_equals_backbone_from_canvas():
    cfg = BevBackboneConfig(layer_nums=[1, 1], layer_strides=[2, 2], num_filters=[8, 8], upsample_strides=[1, 2],
                            num_upsample_filters=[4, 4])
    backbone = BevBackbone(cfg, 6).eval()
    features, coords = _pillars(2, 20, 18, per_frame=80)
    from_canvas = backbone(scatter_to_bev(features, coords, 2, (20, 18)))
    from_pillars = backbone.forward_pillars(features, coords, 2, (20, 18))
    torch.testing.assert_close(from_pillars, from_canvas, rtol=1e-5, atol=1e-5)


def test_autocast_keeps_the_convolution_in_float32():
    features, coords = _pillars(1, 10, 10, per_frame=30)
    weight = torch.randn(4, 6, 3, 3)
    plain = pillar_conv(features, coords, weight, 1, (10, 10), 2, 1)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        cast = pillar_conv(features, coords, weight, 1, (10, 10), 2, 1)
    assert cast.dtype == torch.float32
    torch.testing.assert_close(cast, plain)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_convolution():
    features, coords = _pillars(2, 30, 24, per_frame=200)
    weight = torch.randn(8, 6, 3, 3)
    cpu = pillar_conv(features, coords, weight, 2, (30, 24), 2, 1)
    gpu = pillar_conv(features.cuda(), coords.cuda(), weight.cuda(), 2, (30, 24), 2, 1)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)
