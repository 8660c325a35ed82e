"""1x1 convolutions computed as one matrix product over a channels-last map.

On CPU, PyTorch sends 1x1 convolutions (and 1x1, stride-1 transposed ones) to its slow generic kernel
(``thnn_conv2d`` / ``slow_conv_transpose2d``); on the channels-last BEV map (see ``map_to_bev``) the same layer is a
single ``linear`` over the trailing channel axis, forward and backward. The modules keep ``nn.Conv2d`` /
``nn.ConvTranspose2d`` parameters, so checkpoints do not change.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["Conv1x1", "ConvTranspose1x1"]


class Conv1x1(nn.Conv2d):
    """``nn.Conv2d(in_channels, out_channels, 1)``: (B, C_in, H, W) -> (B, C_out, H, W) in channels-last memory."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1), self.bias).permute(0, 3, 1, 2)


class ConvTranspose1x1(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d(in_channels, out_channels, 1, stride=1)``, the same map as a 1x1 convolution with the
    transposed weight; output in channels-last memory."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__(in_channels, out_channels, 1, stride=1, bias=bias)

    def forward(self, x: Tensor, output_size=None) -> Tensor:  # noqa: ARG002 - nn.ConvTranspose2d's signature
        return F.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1).t(), self.bias).permute(0, 3, 1, 2)
