"""Greedy rotated NMS: agreement with a plain Python greedy loop over shapely IoU, and its edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
import torch

from ssal.errors import SsalError
from ssal.geometry import batched_nms_bev, nms_bev


def oracle_iou_matrix(boxes: np.ndarray) -> np.ndarray:
    """(N, N) BEV IoU by shapely, corners computed here in float64; only pairs that touch are intersected."""
    half = boxes[:, None, 3:5] * 0.5 * np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    cos, sin = np.cos(boxes[:, 6])[:, None], np.sin(boxes[:, 6])[:, None]
    x = boxes[:, 0:1] + half[..., 0] * cos - half[..., 1] * sin
    y = boxes[:, 1:2] + half[..., 0] * sin + half[..., 1] * cos
    polygons = shapely.polygons(np.stack((x, y), axis=-1))
    first, second = shapely.STRtree(polygons).query(polygons, predicate="intersects")
    inter = shapely.area(shapely.intersection(polygons[first], polygons[second], grid_size=1e-9))
    union = shapely.area(polygons[first]) + shapely.area(polygons[second]) - inter
    iou = np.zeros((len(boxes), len(boxes)))
    iou[first, second] = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return iou


def greedy_reference(iou: np.ndarray, scores: np.ndarray, threshold: float, labels=None) -> list[int]:
    """Textbook greedy NMS: best first; drop everything a kept box overlaps by more than the threshold."""
    keep: list[int] = []
    for index in sorted(range(len(scores)), key=lambda i: (-scores[i], i)):
        if all(iou[index, kept] <= threshold or (labels is not None and labels[index] != labels[kept])
               for kept in keep):
            keep.append(index)
    return keep


def detector_like_candidates(rng: np.random.Generator, count: int, objects: int = 12) -> np.ndarray:
    """Candidates jittered around a few objects, as a detector's top-k are, plus some strays (count, 7)."""
    centres = rng.uniform(-20, 20, (objects, 2))
    sizes = np.where(rng.random((objects, 1)) < 0.7, [3.9, 1.6, 1.5], [0.8, 0.6, 1.7])
    headings = rng.uniform(-math.pi, math.pi, objects)
    which = rng.integers(0, objects, count)
    boxes = np.concatenate([
        centres[which] + rng.normal(0, 0.4, (count, 2)),
        rng.uniform(-1.5, -0.5, (count, 1)),
        sizes[which] * rng.uniform(0.85, 1.15, (count, 3)),
        (headings[which] + rng.normal(0, 0.15, count))[:, None],
    ], axis=1)
    strays = rng.random(count) < 0.1
    boxes[strays, :2] = rng.uniform(-25, 25, (strays.sum(), 2))
    return boxes


@pytest.mark.parametrize("threshold, dtype", [(0.0, torch.float64), (0.1, torch.float64), (0.5, torch.float64),
                                              (0.1, torch.float32), (0.7, torch.float32)])
def test_nms_matches_a_plain_greedy_loop_over_shapely_iou(threshold, dtype):
    rng = np.random.default_rng(0)
    boxes = detector_like_candidates(rng, 600)
    scores = rng.random(600)
    expected = greedy_reference(oracle_iou_matrix(boxes), scores, threshold)

    keep = nms_bev(torch.from_numpy(boxes).to(dtype), torch.from_numpy(scores).to(dtype), threshold)

    assert keep.dtype == torch.long
    assert keep.tolist() == expected
    assert 10 < len(expected) < 600  # the case is neither trivial nor all-suppressed


def test_class_aware_nms_only_suppresses_within_a_class():
    rng = np.random.default_rng(1)
    boxes, scores, labels = detector_like_candidates(rng, 300), rng.random(300), rng.integers(1, 4, 300)
    expected = greedy_reference(oracle_iou_matrix(boxes), scores, 0.3, labels)

    keep = batched_nms_bev(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels), 0.3)

    assert keep.tolist() == expected
    assert len(expected) > len(nms_bev(torch.from_numpy(boxes), torch.from_numpy(scores), 0.3))


def test_identical_boxes_keep_only_the_best_and_ties_keep_input_order():
    boxes = torch.tensor([[1.0, 2.0, 0.0, 4.0, 2.0, 1.5, 0.3]]).repeat(5, 1)
    assert nms_bev(boxes, torch.tensor([0.1, 0.9, 0.3, 0.9, 0.2]), 0.5).tolist() == [1]
    assert nms_bev(boxes, torch.full((5,), 0.5), 0.5).tolist() == [0]
    assert nms_bev(boxes, torch.full((5,), 0.5), 1.0).tolist() == [0, 1, 2, 3, 4]  # IoU 1 is not > 1


def test_empty_input_gives_an_empty_long_tensor():
    keep = nms_bev(torch.zeros(0, 7), torch.zeros(0), 0.1)
    assert keep.shape == (0,) and keep.dtype == torch.long
    assert batched_nms_bev(torch.zeros(0, 7), torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.1).numel() == 0


def test_pre_and_post_max_size_cut_the_ranking():
    boxes = torch.tensor([[10.0 * i, 0, 0, 4, 2, 1.5, 0] for i in range(6)])  # far apart: nothing suppressed
    scores = torch.tensor([0.1, 0.6, 0.3, 0.9, 0.5, 0.2])
    assert nms_bev(boxes, scores, 0.1).tolist() == [3, 1, 4, 2, 5, 0]
    assert nms_bev(boxes, scores, 0.1, pre_max_size=3).tolist() == [3, 1, 4]
    assert nms_bev(boxes, scores, 0.1, post_max_size=2).tolist() == [3, 1]


@pytest.mark.parametrize("threshold, limit", [(0.8, 256), (0.7, 100), (0.1, 40)])
def test_a_cap_on_kept_boxes_keeps_the_greedy_loops_first_boxes(threshold, limit):
    # Proposal NMS: thousands of clustered candidates, a cap reached after the first block of ranks, so the
    # blocks after it are never compared; the kept boxes must still be the greedy loop's first ones.
    rng = np.random.default_rng(2)
    boxes, scores = detector_like_candidates(rng, 2000, objects=30), rng.random(2000)
    expected = greedy_reference(oracle_iou_matrix(boxes), scores, threshold)
    assert len(expected) > limit

    keep = nms_bev(torch.from_numpy(boxes).float(), torch.from_numpy(scores).float(), threshold, post_max_size=limit)

    assert keep.tolist() == expected[:limit]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_box_inside_another_is_suppressed_just_above_the_threshold(dtype):
    # The case where the enclosing-rectangle pre-filter is tight: IoU = inner area / outer area exactly.
    outer = [0.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.0]
    for ratio, suppressed in ((0.5004, True), (0.4996, False)):
        inner = [0.3, 0.0, 0.0, 4.0 * ratio, 2.0, 1.5, 0.0]
        keep = nms_bev(torch.tensor([outer, inner], dtype=dtype), torch.tensor([0.9, 0.8], dtype=dtype), 0.5)
        assert keep.tolist() == ([0] if suppressed else [0, 1])


def test_boxes_that_only_touch_do_not_suppress_each_other_even_at_threshold_zero():
    boxes = torch.tensor([[0.0, 0, 0, 4, 2, 1.5, 0.5], [4 * math.cos(0.5), 4 * math.sin(0.5), 0, 4, 2, 1.5, 0.5]])
    assert nms_bev(boxes, torch.tensor([0.9, 0.8]), 0.0).tolist() == [0, 1]


def test_thousands_of_candidates_give_the_same_result_in_float32_and_float64():
    rng = np.random.default_rng(2)
    boxes, scores = detector_like_candidates(rng, 2000, objects=30), rng.random(2000)
    keep64 = nms_bev(torch.from_numpy(boxes), torch.from_numpy(scores), 0.7)
    keep32 = nms_bev(torch.from_numpy(boxes).float(), torch.from_numpy(scores), 0.7)
    assert keep64.tolist() == keep32.tolist()


def test_bad_arguments_raise_one_line_errors():
    with pytest.raises(SsalError, match=r"scores: expected one score per box \(3,\), got \(2,\)"):
        nms_bev(torch.zeros(3, 7), torch.zeros(2), 0.5)
    with pytest.raises(SsalError, match="iou_threshold: expected an IoU threshold >= 0"):
        nms_bev(torch.zeros(3, 7), torch.zeros(3), -0.1)
    with pytest.raises(SsalError, match="labels: expected one label per score"):
        batched_nms_bev(torch.zeros(3, 7), torch.zeros(3), torch.zeros(2), 0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_cpu_result_on_the_callers_device():
    rng = np.random.default_rng(3)
    boxes, scores = torch.from_numpy(detector_like_candidates(rng, 4096, objects=40)).float(), torch.rand(4096)
    labels = torch.from_numpy(rng.integers(1, 4, 4096))
    keep = nms_bev(boxes.cuda(), scores.cuda(), 0.1, post_max_size=500)
    assert keep.device.type == "cuda"
    assert keep.cpu().tolist() == nms_bev(boxes, scores, 0.1, post_max_size=500).tolist()
    assert (batched_nms_bev(boxes.cuda(), scores.cuda(), labels.cuda(), 0.5).cpu().tolist()
            == batched_nms_bev(boxes, scores, labels, 0.5).tolist())
