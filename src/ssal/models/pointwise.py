"""1x1 convolutions computed as one matrix product.

On CPU, PyTorch sends 1x1 convolutions (and 1x1, stride-1 transposed ones) to its slow generic kernels
(``thnn_conv2d`` / ``slow_conv_transpose2d``: about 7 % of a cpu-preset training step in a profile). The same
layer is one GEMM, forward and backward: a ``linear`` over the trailing channel axis of a channels-last map, a
batched ``matmul`` over a plain one; the output keeps the input's layout. The modules keep ``nn.Conv2d`` /
``nn.ConvTranspose2d`` parameters, so checkpoints do not change.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["Conv1x1", "ConvTranspose1x1", "pointwise"]


def pointwise(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """(B, C_out, H, W) = ``weight`` (C_out, C_in) applied to every cell of ``x`` (B, C_in, H, W), plus ``bias``."""
    if x.is_contiguous(memory_format=torch.channels_last):
        return F.linear(x.permute(0, 2, 3, 1), weight, bias).permute(0, 3, 1, 2)
    out = torch.matmul(weight, x.flatten(2))
    if bias is not None:
        out = out + bias[:, None]
    return out.view(x.shape[0], weight.shape[0], *x.shape[2:])


class Conv1x1(nn.Conv2d):
    """``nn.Conv2d(in_channels, out_channels, 1)``."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return pointwise(x, self.weight.flatten(1), self.bias)


class ConvTranspose1x1(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d(in_channels, out_channels, 1, stride=1)``: a 1x1 convolution with the transposed
    weight."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__(in_channels, out_channels, 1, stride=1, bias=bias)

    def forward(self, x: Tensor, output_size=None) -> Tensor:  # noqa: ARG002 - nn.ConvTranspose2d's signature
        return pointwise(x, self.weight.flatten(1).t(), self.bias)
