"""The RoI point grid: each RoI's own points binned in its frame, the input that lets the direction check see a
facing cue finer than a pillar."""

from __future__ import annotations

import math

import pytest
import torch

from ssal.models.roi_point_grid import point_grid_channels, roi_point_grid

SHAPE = (4, 2, 2)  # cells along length, width, height
CELLS = 16


def _place(roi: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    """World (x, y, z) of points given in the frame of ``roi`` (7,)."""
    c, s = math.cos(float(roi[6])), math.sin(float(roi[6]))
    x = roi[0] + local[:, 0] * c - local[:, 1] * s
    y = roi[1] + local[:, 0] * s + local[:, 1] * c
    return torch.stack((x, y, roi[2] + local[:, 2]), dim=1)


def _points(frame: int, xyz: torch.Tensor, intensity: float) -> torch.Tensor:
    return torch.cat((torch.full((len(xyz), 1), float(frame)), xyz, torch.full((len(xyz), 1), intensity)), dim=1)


def test_points_land_in_the_cells_of_the_rois_own_frame_at_any_heading():
    for heading in (0.0, 0.7, -2.5, math.pi):
        roi = torch.tensor([20.0, -3.0, -1.0, 4.0, 2.0, 1.6, heading])
        front_low_left = torch.tensor([[1.6, 0.5, -0.6]] * 3)  # last length cell, second width cell, lower half
        back_high_right = torch.tensor([[-1.6, -0.5, 0.6]])
        outside = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.0, 1.5]])  # beyond the margin in x, above it in z
        points = torch.cat((_points(0, _place(roi, front_low_left), 0.8), _points(0, _place(roi, back_high_right), 0.2),
                            _points(0, _place(roi, outside), 0.5)))
        grid = roi_point_grid(points, roi[None, None], SHAPE, margin=0.2)[0, 0]
        assert grid.shape == (point_grid_channels(SHAPE),)
        share, intensity, count = grid[:CELLS].view(SHAPE), grid[CELLS:2 * CELLS].view(SHAPE), grid[-1]
        torch.testing.assert_close(share[3, 1, 0], torch.tensor(0.75))
        torch.testing.assert_close(share[0, 0, 1], torch.tensor(0.25))
        torch.testing.assert_close(share.sum(), torch.tensor(1.0))
        torch.testing.assert_close(intensity[3, 1, 0], torch.tensor(0.8))
        torch.testing.assert_close(intensity[0, 0, 1], torch.tensor(0.2))
        torch.testing.assert_close(count, torch.tensor(math.log(5.0)))


def test_a_roi_turned_round_sees_its_grid_mirrored_front_to_back():
    roi = torch.tensor([15.0, 4.0, -0.8, 0.8, 0.6, 1.7, 0.4])
    local = (torch.rand(40, 3, generator=torch.Generator().manual_seed(0)) - 0.5) * torch.tensor([0.8, 0.6, 1.7])
    points = _points(0, _place(roi, local), 0.3)
    turned = roi.clone()
    turned[6] += math.pi
    grids = roi_point_grid(points, torch.stack((roi, turned))[None], SHAPE, margin=0.1)[0]
    share, share_turned = grids[0, :CELLS].view(SHAPE), grids[1, :CELLS].view(SHAPE)
    torch.testing.assert_close(share_turned, share.flip(0).flip(1))


def test_each_roi_reads_only_the_points_of_its_own_frame():
    roi = torch.tensor([10.0, 0.0, -1.0, 2.0, 2.0, 2.0, 0.0])
    rois = torch.stack((roi, roi))[:, None]  # frame 0 and frame 1, the same place
    points = torch.cat((_points(0, torch.tensor([[10.0, 0.0, -1.0]] * 4), 1.0),
                        _points(1, torch.tensor([[10.0, 0.0, -1.0]]), 1.0)))
    grids = roi_point_grid(points, rois, SHAPE, margin=0.0)
    torch.testing.assert_close(grids[:, 0, -1], torch.log(torch.tensor([5.0, 2.0])))


def test_an_empty_roi_and_a_padding_roi_give_zeros():
    rois = torch.tensor([[[30.0, 5.0, -1.0, 4.0, 2.0, 1.5, 0.0], [0.0] * 7]])
    points = _points(0, torch.tensor([[10.0, 0.0, -1.0]]), 1.0)
    grids = roi_point_grid(points, rois, SHAPE, margin=0.2)
    assert torch.equal(grids, torch.zeros_like(grids))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_grid():
    generator = torch.Generator().manual_seed(5)
    rois = torch.cat((torch.rand(2, 30, 2, generator=generator) * 20 + 5, torch.full((2, 30, 1), -1.0),
                      torch.tensor([3.9, 1.6, 1.56]).expand(2, 30, 3),
                      (torch.rand(2, 30, 1, generator=generator) * 2 - 1) * math.pi), dim=2)
    xyz = torch.rand(20000, 3, generator=generator) * torch.tensor([30.0, 30.0, 2.0]) + torch.tensor([0.0, 0.0, -2.0])
    points = torch.cat((torch.randint(0, 2, (20000, 1), generator=generator).float(), xyz,
                        torch.rand(20000, 1, generator=generator)), dim=1)
    cpu = roi_point_grid(points, rois, SHAPE, margin=0.2)
    gpu = roi_point_grid(points.cuda(), rois.cuda(), SHAPE, margin=0.2)
    assert cpu[..., -1].gt(0).any()  # some RoIs hold points
    # Rounding may move a point lying on a cell face to the neighbouring cell on one device: nearly all agree.
    assert ((gpu.cpu() - cpu).abs() <= 1e-4).float().mean() > 0.99
