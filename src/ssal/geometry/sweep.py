"""Candidate pairs by a sweep along x: the cheap pre-filter in front of every exact rotated-box test.

Sorting one side by x and binary-searching the other side's x-interval yields only the pairs whose x-extents
can overlap, in O((N + M) log M + pairs) time and memory, instead of an N x M comparison. Callers finish with
their own exact test on the (usually few) pairs. Pairs come in chunks of bounded size so memory stays bounded
however dense the scene is.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

DEFAULT_MAX_PAIRS = 1 << 20


def bev_half_extents(boxes: Tensor) -> Tensor:
    """Half sizes (N, 2) along x and y of the axis-aligned rectangles enclosing rotated boxes (N, 7+)."""
    cos, sin = torch.cos(boxes[:, 6]).abs(), torch.sin(boxes[:, 6]).abs()
    half_dx, half_dy = boxes[:, 3] * 0.5, boxes[:, 4] * 0.5
    return torch.stack((half_dx * cos + half_dy * sin, half_dx * sin + half_dy * cos), dim=1)


def x_overlap_pairs(
    centre_a: Tensor, reach_a: Tensor, centre_b: Tensor, reach_b: Tensor, max_pairs: int = DEFAULT_MAX_PAIRS
) -> Iterator[tuple[Tensor, Tensor]]:
    """Index pairs (i, j), in chunks of at most about ``max_pairs``, that include every pair whose intervals
    ``centre_a[i] +- reach_a[i]`` and ``centre_b[j] +- reach_b[j]`` touch or overlap (a superset: callers test
    exactly). Both index tensors are long (P,), on the inputs' device; i is non-decreasing within a chunk.

    Args:
        centre_a, reach_a: (N,) interval centres and half-widths (>= 0).
        centre_b, reach_b: (M,) the same for the other side.
    """
    if centre_a.numel() == 0 or centre_b.numel() == 0:
        return
    sorted_b, order_b = torch.sort(centre_b)
    widest_b = reach_b.max()
    lo = torch.searchsorted(sorted_b, centre_a - reach_a - widest_b, side="left")
    hi = torch.searchsorted(sorted_b, centre_a + reach_a + widest_b, side="right")
    counts = hi - lo
    for rows in _row_chunks(counts, max_pairs):
        row_counts = counts[rows]
        total = int(row_counts.sum())
        if total == 0:
            continue
        ia = torch.repeat_interleave(rows, row_counts, output_size=total)
        first = torch.cumsum(row_counts, dim=0) - row_counts
        offset = torch.arange(total, device=counts.device) - torch.repeat_interleave(
            first, row_counts, output_size=total)
        yield ia, order_b[lo[ia] + offset]


def _row_chunks(counts: Tensor, max_pairs: int) -> Iterator[Tensor]:
    """Consecutive row ranges whose summed counts stay near ``max_pairs`` (a single larger row stays whole)."""
    ends = torch.cumsum(counts, dim=0)
    total = int(ends[-1])
    thresholds = torch.arange(1, total // max_pairs + 1, device=counts.device) * max_pairs
    cuts = sorted(set(torch.searchsorted(ends, thresholds, side="right").tolist()) | {counts.numel()})
    start = 0
    for stop in cuts:
        if stop > start:
            yield torch.arange(start, stop, device=counts.device)
            start = stop
