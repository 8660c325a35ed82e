"""First stage of pillar_rcnn: pillarisation, the pillar feature net, the BEV canvas and the 2-D backbone."""

from __future__ import annotations

from pathlib import Path

import torch

from ssal.models import load_model_config
from ssal.models.bev_backbone import BevBackbone
from ssal.models.config import BevBackboneConfig
from ssal.models.map_to_bev import scatter_to_bev
from ssal.models.pillar_vfe import PillarVFE, pillarize

TINY_YAML = Path(__file__).resolve().parents[1] / "configs" / "_models" / "tiny.yaml"
TINY = load_model_config(TINY_YAML)


def _points(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_points_group_into_pillars_of_the_grid():
    # tiny: x from 0, y from -20.48, 0.32 m pillars
    pts = _points([[0, 0.10, -20.40, -1.0, 0.5],   # pillar (iy 0, ix 0)
                   [0, 0.20, -20.30, -1.2, 0.1],   # same pillar
                   [0, 1.00, 0.00, 0.0, 0.2],      # ix 3, iy 64
                   [1, 0.10, -20.40, -1.0, 0.3]])  # frame 1, its own pillar
    pillars = pillarize(pts, TINY, max_pillars=100)
    assert pillars.coords.tolist() == [[0, 0, 0], [0, 64, 3], [1, 0, 0]]
    assert pillars.point_pillar.tolist() == [0, 0, 1, 2]


def test_points_outside_the_range_or_nan_are_dropped():
    pts = _points([[0, -0.5, 0, 0, 0], [0, 41.0, 0, 0, 0], [0, 5, 30, 0, 0], [0, 5, 0, 5.0, 0],
                   [0, float("nan"), 0, 0, 0], [0, 5, 0, 0, 0]])
    pillars = pillarize(pts, TINY, max_pillars=100)
    assert pillars.points.shape[0] == 1 and pillars.num_pillars == 1


def _kept_rows(pillars):
    """The kept points as a set of rows without the batch index (order-free comparison)."""
    return sorted(map(tuple, pillars.points[:, 1:].tolist()))


def test_point_cap_keeps_a_subset_that_does_not_depend_on_file_order():
    cfg = load_model_config(TINY_YAML, ["model.vfe.max_points_per_pillar=8"])
    generator = torch.Generator().manual_seed(0)
    xyz = torch.rand(60, 3, generator=generator) * torch.tensor([0.28, 0.28, 1.7]) + torch.tensor([5.13, 0.01, -1.7])
    pts = torch.cat((torch.zeros(60, 1), xyz, torch.rand(60, 1, generator=generator)), dim=1)  # one pillar
    pillars = pillarize(pts, cfg, max_pillars=100)
    assert pillars.points.shape[0] == 8
    shuffled = pillarize(pts[torch.randperm(60, generator=generator)], cfg, max_pillars=100)
    assert _kept_rows(shuffled) == _kept_rows(pillars)
    # The same frame at another place in the batch keeps the same points.
    other = torch.cat((torch.tensor([[0.0, 30.0, 5.0, -1.0, 0.5]]), pts + torch.tensor([1.0, 0, 0, 0, 0])))
    moved = pillarize(other, cfg, max_pillars=100)
    assert _kept_rows(pillarize(moved.points[moved.points[:, 0] == 1], cfg, 100)) == _kept_rows(pillars)
    assert torch.equal(pts[pillars.source_index], pillars.points)


def test_point_cap_keeps_the_lower_rings_of_a_scan_stored_top_first():
    cfg = load_model_config(TINY_YAML, ["model.vfe.max_points_per_pillar=32"])
    z = torch.linspace(0.0, -1.7, 200)  # file order: top ring first, as KITTI stores scans
    pts = torch.stack((torch.zeros(200), torch.full((200,), 5.1), torch.full((200,), 0.1), z, torch.rand(200)), 1)
    kept = pillarize(pts, cfg, max_pillars=100).points
    assert kept.shape[0] == 32
    assert abs(float(kept[:, 3].mean()) - float(z.mean())) < 0.25  # the first 32 in file order: 0.75 m too high
    assert float(kept[:, 3].min()) < -1.2


def test_pillar_cap_samples_cells_evenly_and_deterministically():
    dense = [[0, 1.1 + 0.32 * i, 0.1, -1.0, float(k)] for i in range(50) for k in range(10)]  # near, 10 points each
    sparse = [[0, 20.1 + 0.32 * i, 0.1, -1.0, 0.0] for i in range(50)]  # far, one point each
    pts = _points(dense + sparse)
    pillars = pillarize(pts, TINY, max_pillars=50)
    far = pillars.coords[:, 2] >= 62
    assert pillars.num_pillars == 50 and 10 <= int(far.sum()) <= 40  # not the 50 fullest (all near)
    again = pillarize(pts.flip(0), TINY, max_pillars=50)
    assert torch.equal(again.coords, pillars.coords)
    second = pillarize(torch.cat((_points([[0, 30.0, 5.0, -1.0, 0.0]]), pts + torch.tensor([1.0, 0, 0, 0, 0]))),
                       TINY, max_pillars=50)
    assert torch.equal(second.coords[second.coords[:, 0] == 1, 1:], pillars.coords[:, 1:])


def test_decorations_are_offsets_to_pillar_mean_and_centre():
    vfe = PillarVFE(TINY)
    pts = _points([[0, 0.10, -20.40, -1.0, 0.5], [0, 0.20, -20.30, -1.2, 0.1]])
    pillars = pillarize(pts, TINY, 10)
    features = vfe.decorate(pillars)[pillars.source_index.argsort()]  # back in input order
    assert features.shape == (2, 3 + 1 + 3 + 3)
    torch.testing.assert_close(features[:, 4:7], torch.tensor([[-0.05, -0.05, 0.1], [0.05, 0.05, -0.1]]))
    # pillar centre: (0.16, -20.32), z centre of the range -1.0
    torch.testing.assert_close(features[:, 7:10], torch.tensor([[-0.06, -0.08, 0.0], [0.04, 0.02, -0.2]]))


def test_pfn_gives_one_vector_per_pillar_and_one_point_works_in_training():
    vfe = PillarVFE(TINY).train()
    pillars = pillarize(_points([[0, 3.0, 1.0, -1.0, 0.2]]), TINY, 10)
    out = vfe(pillars)
    assert out.shape == (1, 32) and torch.isfinite(out).all()
    empty = pillarize(torch.zeros(0, 5), TINY, 10)
    assert vfe(empty).shape == (0, 32)


def test_scatter_places_features_at_their_cells():
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    coords = torch.tensor([[0, 1, 2], [1, 0, 3]])  # (batch, iy, ix)
    canvas = scatter_to_bev(features, coords, batch_size=3, grid_size=(4, 2))
    assert canvas.shape == (3, 2, 2, 4)
    assert canvas[0, :, 1, 2].tolist() == [1.0, 2.0] and canvas[1, :, 0, 3].tolist() == [3.0, 4.0]
    assert canvas.abs().sum() == 10.0  # nothing else, and frame 2 is empty


def test_backbone_output_resolution_and_channels():
    backbone = BevBackbone(TINY.backbone, 32)
    out = backbone(torch.randn(2, 32, 128, 128))
    assert out.shape == (2, 192, 64, 64)


def test_backbone_handles_grids_not_divisible_by_the_deepest_stride():
    # Waymo's 470-pillar grid halves to 235, whose deeper blocks come back one cell larger; they are cut to fit.
    small = BevBackbone(BevBackboneConfig(layer_nums=[0, 0, 0], num_filters=[4, 4, 4],
                                          num_upsample_filters=[4, 4, 4]), 8)
    out = small(torch.randn(1, 8, 94, 94))  # 94 -> 47 -> 24 -> 12; up-sampled: 47, 48, 48
    assert out.shape == (1, 12, 47, 47)
