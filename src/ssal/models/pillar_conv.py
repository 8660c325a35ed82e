"""The backbone's first convolution read straight from the pillars, without the dense canvas.

The pillar canvas is mostly empty (at most ``max_pillars`` of its ``nx * ny`` cells hold a pillar: 12,000 of 53,568
in the ``cpu`` preset), yet a dense convolution's backward pass computes the input gradient at every cell, and
PyTorch's CPU kernel for that (a strided transposed convolution) is slow: 419 ms of the ``cpu`` backbone's 575 ms
first-layer backward at batch 4 on one thread, against 137 ms forward. Only the occupied cells' gradients reach the
pillar encoder. So this convolution is computed tap by tap from the pillars: each kernel tap multiplies the pillars
it reaches by its weights and adds the products to the output cells they reach. The result equals ``F.conv2d`` on
the scattered canvas (zero padding, no bias) up to float summation order.

Which taps reach a pillar depends only on its position modulo the stride, so the pillars are sorted once by that
class and every tap reads one contiguous slice of them. Within a tap no two pillars reach the same output cell (the
cell fixes the input position), so every sum is a fixed sequence of plain additions: the same numbers run after run,
on CPU and on CUDA.
"""

from __future__ import annotations

import torch
from torch import Tensor


def pillar_conv(features: Tensor, coords: Tensor, weight: Tensor, batch_size: int, grid_size: tuple[int, int],
                stride: int, padding: int) -> Tensor:
    """``conv2d(scatter(features), weight, stride, padding)`` without building the scattered canvas.

    Args:
        features: (P, C_in) one vector per pillar.
        coords: (P, 3) ``(batch_index, iy, ix)`` of each pillar, all distinct.
        weight: (C_out, C_in, k, k) the convolution's weights (no bias).
        batch_size: B, frames in the batch.
        grid_size: ``(nx, ny)`` of the canvas.
        stride, padding: as for ``torch.nn.functional.conv2d`` (zero padding).

    Returns:
        (B, C_out, ny_out, nx_out) float32, a strided view with the channels innermost (make it contiguous in the
        layout the next convolution wants).
    """
    return _PillarConv.apply(features, coords, weight, batch_size, grid_size, stride, padding)


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class _Plan:
    """Where every tap reads and writes, worked out once for the forward and the backward pass. Output cells are
    counted on a margin-extended grid (from cell ``lo`` on both axes) that holds every cell any pillar reaches, so no
    tap needs a bounds test; the margin is cut off at the end."""

    def __init__(self, coords: Tensor, batch_size: int, grid_size: tuple[int, int], kernel: int, stride: int,
                 padding: int):
        nx, ny = grid_size
        self.batch_size = batch_size
        self.out_nx, self.out_ny = output_size(nx, kernel, stride, padding), output_size(ny, kernel, stride, padding)
        self.lo = (padding - kernel + 1) // stride  # the lowest cell a pillar at 0 reaches (floor)
        self.rows = max((ny - 1 + padding) // stride, self.out_ny - 1) - self.lo + 1
        self.cols = max((nx - 1 + padding) // stride, self.out_nx - 1) - self.lo + 1
        y, x = coords[:, 1] + padding, coords[:, 2] + padding
        residue = (y % stride) * stride + x % stride
        self.order = torch.argsort(residue, stable=True)
        bounds = torch.bincount(residue, minlength=stride * stride).cumsum(0).tolist()
        slices = list(zip([0] + bounds[:-1], bounds))
        b, y, x = coords[self.order, 0], y[self.order], x[self.order]
        # Per tap (ky, kx): the slice of sorted pillars it reaches and the extended output cells they reach.
        self.taps = []
        for ky in range(kernel):
            for kx in range(kernel):
                start, end = slices[(ky % stride) * stride + kx % stride]
                oy = (y[start:end] - ky) // stride - self.lo
                ox = (x[start:end] - kx) // stride - self.lo
                self.taps.append((ky, kx, start, end, (b[start:end] * self.rows + oy) * self.cols + ox))

    def crop(self, extended: Tensor) -> Tensor:
        """(B * rows * cols, C) extended rows -> (B, C, out_ny, out_nx), a view without the margin."""
        grid = extended.view(self.batch_size, self.rows, self.cols, -1)
        y0 = x0 = -self.lo
        return grid[:, y0:y0 + self.out_ny, x0:x0 + self.out_nx].permute(0, 3, 1, 2)

    def extend(self, grad: Tensor) -> Tensor:
        """The inverse of ``crop`` for a gradient: (B, C, out_ny, out_nx) -> (B * rows * cols, C), zero margin."""
        extended = grad.new_zeros(self.batch_size, self.rows, self.cols, grad.shape[1])
        y0 = x0 = -self.lo
        extended[:, y0:y0 + self.out_ny, x0:x0 + self.out_nx] = grad.permute(0, 2, 3, 1)
        return extended.view(-1, grad.shape[1])


class _PillarConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features, coords, weight, batch_size, grid_size, stride, padding):
        plan = _Plan(coords, batch_size, grid_size, weight.shape[-1], stride, padding)
        with torch.autocast(device_type=features.device.type, enabled=False):
            feats, w = features.float().index_select(0, plan.order), weight.float()
            out = feats.new_zeros(batch_size * plan.rows * plan.cols, weight.shape[0])
            for ky, kx, start, end, cells in plan.taps:
                out.index_add_(0, cells, feats[start:end] @ w[:, :, ky, kx].t())
        ctx.save_for_backward(feats, weight)
        ctx.plan, ctx.dtype = plan, features.dtype
        return plan.crop(out)

    @staticmethod
    def backward(ctx, grad_out):
        feats, weight = ctx.saved_tensors
        plan = ctx.plan
        with torch.autocast(device_type=feats.device.type, enabled=False):
            grad = plan.extend(grad_out.float())
            w = weight.float()
            grad_sorted = torch.zeros_like(feats)
            grad_weight = torch.empty_like(w)
            for ky, kx, start, end, cells in plan.taps:
                g = grad.index_select(0, cells)
                grad_sorted[start:end] += g @ w[:, :, ky, kx]
                grad_weight[:, :, ky, kx] = g.t() @ feats[start:end]
            grad_features = torch.empty_like(grad_sorted).index_copy_(0, plan.order, grad_sorted)
        return grad_features.to(ctx.dtype), None, grad_weight.to(weight.dtype), None, None, None, None
