"""Exact intersection area of two rotated rectangles, vectorised over aligned pairs, without polygon clipping.

In the frame of rectangle A (centre at the origin, A axis-aligned: ``[-a, a] x [-b, b]``), Green's theorem turns
the area of B inside A into an integral along B's counter-clockwise boundary::

    area(A & B) = sum over B's edges of  integral_edge  (clamp(x, -a, a) + a) * [-b <= y <= b]  dy

(on every horizontal line the integrand's x-derivative is A's indicator, so each slice of B contributes the
length of its part inside A). Along an edge ``p + t * e``, ``t in [0, 1]``, the y-condition is a sub-interval of t
and ``clamp(x(t))`` is piecewise linear with at most two kinks, so the trapezoid rule between the kinks is exact.

Unlike clipping (Sutherland-Hodgman) or candidate-vertex sorting, there is no inside/outside decision whose
rounding could drop a vertex: the result is a continuous function of the inputs, so identical, nested,
touching, degenerate and exactly 0/90/180-degree-rotated pairs need no special case, and there is no sort.
Relative centres are formed first, so nearby boxes keep their precision at large absolute coordinates.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Corner signs of a rectangle in counter-clockwise order; edge k runs from corner k to corner k + 1.
_CORNER_SIGNS = ((1.0, -1.0), (1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0))


def rectangle_overlap_area(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """Bird's-eye-view intersection area of aligned pairs of boxes.

    Args:
        boxes_a, boxes_b: (K, 7+) boxes ``(x, y, z, dx, dy, dz, heading)``; only x, y, dx, dy and heading are
            read. Sizes must be >= 0; a zero-size box has zero overlap.

    Returns:
        (K,) area of the overlap of ``boxes_a[k]`` and ``boxes_b[k]``, in [0, min(area_a, area_b)]; overlaps
        below rounding noise (boxes that only touch) are exactly 0.
    """
    corner_x, corner_y = _corners_of_b_in_frame_of_a(boxes_a, boxes_b)  # (K, 4) each
    edge_x = torch.roll(corner_x, -1, dims=1) - corner_x
    edge_y = torch.roll(corner_y, -1, dims=1) - corner_y
    half_x, half_y = boxes_a[:, 3:4] * 0.5, boxes_a[:, 4:5] * 0.5

    # Sub-interval of t in which the edge lies in the horizontal band |y| <= half_y. A horizontal edge (dy = 0)
    # contributes nothing, so any finite interval will do for it.
    t_enter, t_leave = _band_interval(corner_y, edge_y, half_y)
    # Kinks of clamp(x(t)), clipped into that interval.
    kink_1, kink_2 = _band_interval(corner_x, edge_x, half_x)
    kink_1 = torch.minimum(torch.maximum(kink_1, t_enter), t_leave)
    kink_2 = torch.minimum(torch.maximum(kink_2, t_enter), t_leave)

    def height(t: Tensor) -> Tensor:  # clamp(x(t), -a, a) + a: the part of the slice left of x(t) inside A
        return torch.minimum(torch.maximum(corner_x + t * edge_x, -half_x), half_x) + half_x

    h0, h1, h2, h3 = height(t_enter), height(kink_1), height(kink_2), height(t_leave)
    doubled = (h0 + h1) * (kink_1 - t_enter) + (h1 + h2) * (kink_2 - kink_1) + (h2 + h3) * (t_leave - kink_2)
    area = (doubled * edge_y).sum(dim=1) * 0.5
    area_a, area_b = boxes_a[:, 3] * boxes_a[:, 4], boxes_b[:, 3] * boxes_b[:, 4]
    # Below rounding noise the overlap is exactly 0, so that boxes that only touch never count as overlapping.
    noise = (area_a + area_b) * (32 * torch.finfo(area.dtype).eps)
    area = torch.where(area > noise, area, torch.zeros_like(area))
    return torch.minimum(area, torch.minimum(area_a, area_b))


def _corners_of_b_in_frame_of_a(boxes_a: Tensor, boxes_b: Tensor) -> tuple[Tensor, Tensor]:
    """x and y (K, 4) of B's corners, counter-clockwise, in the frame centred on A and aligned with A's heading."""
    cos_a, sin_a = torch.cos(boxes_a[:, 6]), torch.sin(boxes_a[:, 6])
    dx, dy = boxes_b[:, 0] - boxes_a[:, 0], boxes_b[:, 1] - boxes_a[:, 1]
    centre_x = (dx * cos_a + dy * sin_a)[:, None]
    centre_y = (dy * cos_a - dx * sin_a)[:, None]
    theta = boxes_b[:, 6] - boxes_a[:, 6]
    cos_t, sin_t = torch.cos(theta)[:, None], torch.sin(theta)[:, None]
    signs = boxes_b.new_tensor(_CORNER_SIGNS)
    local_x = signs[:, 0] * (boxes_b[:, 3:4] * 0.5)
    local_y = signs[:, 1] * (boxes_b[:, 4:5] * 0.5)
    return centre_x + local_x * cos_t - local_y * sin_t, centre_y + local_x * sin_t + local_y * cos_t


def _band_interval(start: Tensor, step: Tensor, half: Tensor) -> tuple[Tensor, Tensor]:
    """The t-interval, within [0, 1], where ``|start + t * step| <= half``; empty intervals come out with
    ``enter == leave``. A zero step gives a finite, arbitrary interval (callers weigh it by the step)."""
    safe = torch.where(step == 0, torch.ones_like(step), step)
    t_low, t_high = (-half - start) / safe, (half - start) / safe
    enter = torch.minimum(t_low, t_high).clamp(0, 1)
    leave = torch.maximum(torch.maximum(t_low, t_high).clamp(0, 1), enter)
    return enter, leave
