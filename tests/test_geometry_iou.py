"""Rotated BEV and 3-D IoU: agreement with a shapely polygon oracle, and the edge cases users rely on."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
import torch

from ssal.errors import SsalError
from ssal.geometry import boxes_iou3d, boxes_iou_bev, boxes_overlap_bev
from ssal.geometry.iou import candidate_pairs

# ------------------------------------------------------------------------------------------------ oracle


def bev_polygons(boxes: np.ndarray) -> np.ndarray:
    """shapely polygons of boxes (N, 7), corners computed here in float64, independently of ssal."""
    boxes = np.asarray(boxes, dtype=np.float64)
    half = boxes[:, None, 3:5] * 0.5 * np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    cos, sin = np.cos(boxes[:, 6])[:, None], np.sin(boxes[:, 6])[:, None]
    x = boxes[:, 0:1] + half[..., 0] * cos - half[..., 1] * sin
    y = boxes[:, 1:2] + half[..., 0] * sin + half[..., 1] * cos
    return shapely.polygons(np.stack((x, y), axis=-1))


def oracle_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas of broadcast pairs of polygons. GEOS's plain overlay misses nearly coincident edges
    (identical boxes come out empty), so it runs with snap rounding on a 1e-9 grid."""
    return shapely.area(shapely.intersection(a, b, grid_size=1e-9))


def oracle_iou_bev(a: np.ndarray, b: np.ndarray, aligned: bool) -> np.ndarray:
    pa, pb = bev_polygons(a), bev_polygons(b)
    if not aligned:
        pa, pb = pa[:, None], pb[None, :]
    inter = oracle_overlap(pa, pb)
    return _ratio(inter, shapely.area(pa) + shapely.area(pb) - inter)


def oracle_aligned_ious(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BEV and 3-D IoU of aligned pairs."""
    inter = oracle_overlap(bev_polygons(a), bev_polygons(b))
    bev = _ratio(inter, a[:, 3] * a[:, 4] + b[:, 3] * b[:, 4] - inter)
    top = np.minimum(a[:, 2] + a[:, 5] / 2, b[:, 2] + b[:, 5] / 2)
    bottom = np.maximum(a[:, 2] - a[:, 5] / 2, b[:, 2] - b[:, 5] / 2)
    inter = inter * np.clip(top - bottom, 0, None)
    return bev, _ratio(inter, np.prod(a[:, 3:6], axis=1) + np.prod(b[:, 3:6], axis=1) - inter)


def _ratio(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


# ------------------------------------------------------------------------------------------------ cases


def random_boxes(rng: np.random.Generator, count: int, spread: float = 4.0) -> np.ndarray:
    return np.concatenate([
        rng.uniform(-spread / 2, spread / 2, (count, 3)),
        rng.uniform(0.2, 4.0, (count, 3)),
        rng.uniform(-math.pi, math.pi, (count, 1)),
    ], axis=1)


def pair_cases(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Aligned pairs (count, 7) x 2 cycling through: general, identical, nested, touching, rotated by exactly
    0/90/180/270 degrees, degenerate (a zero size); a fifth of them moved 1e5 m away."""
    a, b = random_boxes(rng, count), random_boxes(rng, count)
    kind = np.arange(count) % 6
    b[kind == 1] = a[kind == 1]
    nested = kind == 2
    b[nested] = a[nested]
    b[nested, 3:6] *= rng.uniform(0.2, 0.9, (nested.sum(), 3))
    touching = kind == 3
    b[touching, 6] = a[touching, 6]
    along = (a[touching, 3] + b[touching, 3]) / 2
    across = rng.uniform(-2, 2, touching.sum())
    cos, sin = np.cos(a[touching, 6]), np.sin(a[touching, 6])
    b[touching, 0] = a[touching, 0] + along * cos - across * sin
    b[touching, 1] = a[touching, 1] + along * sin + across * cos
    quarter = kind == 4
    b[quarter] = a[quarter]
    b[quarter, 6] += rng.integers(0, 4, quarter.sum()) * (math.pi / 2)
    b[quarter, :2] += rng.choice([0.0, 0.5], (quarter.sum(), 2))
    degenerate = np.nonzero(kind == 5)[0]
    which = rng.integers(0, 3, degenerate.size)
    b[degenerate[which == 0], 3] = 0
    b[degenerate[which == 1], 4] = 0
    b[degenerate[which == 2], 3:5] = 0
    far = rng.random(count) < 0.2
    a[far, :2] += 1e5
    b[far, :2] += 1e5
    return a, b


def box(x=0.0, y=0.0, z=0.0, dx=4.0, dy=2.0, dz=1.5, heading=0.0) -> list[float]:
    return [x, y, z, dx, dy, dz, heading]


def t(rows, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(rows, dtype=dtype)


# ------------------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bev_and_3d_iou_match_shapely_on_10000_pairs(dtype):
    a, b = pair_cases(np.random.default_rng(0), 10_000)
    ta, tb = torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)
    a, b = ta.double().numpy(), tb.double().numpy()  # the oracle sees exactly the values we were given

    bev = boxes_iou_bev(ta, tb, aligned=True)
    iou3d = boxes_iou3d(ta, tb, aligned=True)

    assert bev.dtype == dtype and bev.shape == (10_000,)
    expected_bev, expected_3d = oracle_aligned_ious(a, b)
    np.testing.assert_allclose(bev.double().numpy(), expected_bev, atol=1e-4, rtol=0)
    np.testing.assert_allclose(iou3d.double().numpy(), expected_3d, atol=1e-4, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dense_iou_of_a_scene_matches_shapely_and_the_aligned_form(dtype):
    rng = np.random.default_rng(1)
    a, b = random_boxes(rng, 150, spread=30.0), random_boxes(rng, 200, spread=30.0)
    ta, tb = torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)

    iou = boxes_iou_bev(ta, tb)

    assert iou.shape == (150, 200)
    expected = oracle_iou_bev(ta.double().numpy(), tb.double().numpy(), aligned=False)
    assert (expected > 0).sum() > 100  # the scene has real overlaps, not just zeros
    np.testing.assert_allclose(iou.double().numpy(), expected, atol=1e-4, rtol=0)
    rows, cols = torch.nonzero(iou > 0, as_tuple=True)
    torch.testing.assert_close(boxes_iou_bev(ta[rows], tb[cols], aligned=True), iou[rows, cols])


def test_identical_boxes_give_one_whatever_the_heading_and_position():
    boxes = t([box(heading=h, x=x) for h in (0.0, 0.3, math.pi / 2, -2.5, math.pi) for x in (0.0, 1e5)])
    for dtype in (torch.float32, torch.float64):
        same = boxes.to(dtype)
        torch.testing.assert_close(boxes_iou_bev(same, same, aligned=True), torch.ones(10, dtype=dtype))
        torch.testing.assert_close(boxes_iou3d(same, same, aligned=True), torch.ones(10, dtype=dtype))


def test_nested_boxes_give_the_area_and_volume_ratio():
    outer = t([box(dx=4, dy=2, dz=2, heading=0.7)])
    inner = t([box(x=0.5, dx=2, dy=1, dz=1, heading=0.7)])
    assert boxes_iou_bev(outer, inner).item() == pytest.approx(0.25)
    assert boxes_iou3d(outer, inner).item() == pytest.approx(0.125)
    assert boxes_overlap_bev(outer, inner).item() == pytest.approx(2.0)


@pytest.mark.parametrize("heading", [0.0, math.pi / 2, 0.4, -2.0])
def test_boxes_that_touch_along_an_edge_have_exactly_zero_overlap(heading):
    direction = np.array([math.cos(heading), math.sin(heading)])
    a = t([box(heading=heading)])
    b = t([box(x=4 * direction[0], y=4 * direction[1], heading=heading)])  # shares the front edge of a
    for dtype in (torch.float32, torch.float64):
        assert boxes_overlap_bev(a.to(dtype), b.to(dtype)).item() == 0.0
        assert boxes_iou_bev(a.to(dtype), b.to(dtype)).item() == 0.0


@pytest.mark.parametrize("turn, expected", [(0, 1.0), (1, 1 / 3), (2, 1.0), (3, 1 / 3)])
def test_rotation_by_exact_quarter_turns(turn, expected):
    a = t([box(heading=0.3)])
    b = t([box(heading=0.3 + turn * math.pi / 2)])  # a 4 x 2 box crossed with itself: 4 / (8 + 8 - 4)
    assert boxes_iou_bev(a, b).item() == pytest.approx(expected, abs=1e-12)
    assert boxes_iou_bev(a.float(), b.float()).item() == pytest.approx(expected, abs=1e-6)


def test_degenerate_boxes_give_zero_never_nan():
    flat = t([box(dx=0.0), box(dy=0.0), box(dx=0.0, dy=0.0), box(dz=0.0)])
    normal = t([box(), box(heading=1.0)])
    for left, right in ((flat, normal), (normal, flat), (flat, flat)):
        bev, iou3d = boxes_iou_bev(left, right), boxes_iou3d(left, right)
        assert torch.isfinite(bev).all() and torch.isfinite(iou3d).all()
        assert (iou3d == 0).all()
    assert (boxes_iou_bev(flat[:3], normal) == 0).all()
    assert boxes_iou_bev(flat[3:], normal[:1]).item() == pytest.approx(1.0)  # zero height only matters in 3-D


def test_3d_iou_needs_vertical_overlap():
    a = t([box(z=0.0, dz=2.0)])
    assert boxes_iou3d(a, t([box(z=2.0, dz=2.0)])).item() == 0.0  # stacked, touching faces
    assert boxes_iou3d(a, t([box(z=1.0, dz=2.0)])).item() == pytest.approx(1 / 3)
    assert boxes_iou_bev(a, t([box(z=50.0)])).item() == pytest.approx(1.0)


def test_empty_inputs_give_empty_matrices():
    none, some = torch.zeros(0, 7), t([box(), box()], torch.float32)
    assert boxes_iou_bev(none, some).shape == (0, 2)
    assert boxes_iou3d(some, none).shape == (2, 0)
    assert boxes_iou_bev(none, none, aligned=True).shape == (0,)


def test_results_come_back_in_the_input_dtype_and_extra_columns_are_ignored():
    a = t([box(heading=0.2)])
    b = t([box(x=1.0) + [5.0, -1.0]])  # 9 columns, as boxes with velocities
    reference = boxes_iou_bev(a, b).item()
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        iou = boxes_iou_bev(a.to(dtype), b.to(dtype))
        assert iou.dtype == dtype
        assert iou.item() == pytest.approx(reference, abs=2e-2)


def test_chunked_candidate_pairs_are_the_same_pairs():
    rng = np.random.default_rng(2)
    a = torch.from_numpy(random_boxes(rng, 60, spread=10.0))
    b = torch.from_numpy(random_boxes(rng, 70, spread=10.0))

    def pair_set(max_pairs):
        return {(int(i), int(j)) for ia, ib in candidate_pairs(a, b, max_pairs) for i, j in zip(ia, ib)}

    everything = pair_set(1 << 20)
    assert everything == pair_set(7)
    overlapping = {(int(i), int(j)) for i, j in torch.nonzero(boxes_overlap_bev(a, b) > 0)}
    assert overlapping <= everything


def test_wrong_shapes_raise_one_line_errors():
    with pytest.raises(SsalError, match=r"boxes_a: expected shape \(N, 7\).*got \(3, 5\)"):
        boxes_iou_bev(torch.zeros(3, 5), torch.zeros(2, 7))
    with pytest.raises(SsalError, match="boxes_b: expected a torch.Tensor"):
        boxes_iou3d(torch.zeros(3, 7), np.zeros((2, 7)))
    with pytest.raises(SsalError, match="boxes_b: aligned pairs need as many boxes"):
        boxes_iou_bev(torch.zeros(3, 7), torch.zeros(2, 7), aligned=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_cpu_results():
    rng = np.random.default_rng(3)
    a = torch.from_numpy(random_boxes(rng, 300, spread=20.0)).float()
    b = torch.from_numpy(random_boxes(rng, 400, spread=20.0)).float()
    for function in (boxes_iou_bev, boxes_iou3d, boxes_overlap_bev):
        on_gpu = function(a.cuda(), b.cuda())
        assert on_gpu.device.type == "cuda"
        torch.testing.assert_close(on_gpu.cpu(), function(a, b), atol=1e-5, rtol=0)
    pa, pb = pair_cases(rng, 2000)
    pa, pb = torch.from_numpy(pa).float(), torch.from_numpy(pb).float()
    torch.testing.assert_close(boxes_iou_bev(pa.cuda(), pb.cuda(), aligned=True).cpu(),
                               boxes_iou_bev(pa, pb, aligned=True), atol=1e-5, rtol=0)
