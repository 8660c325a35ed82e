"""The 2-D BEV backbone (OpenPCDet's BaseBEVBackbone): blocks of 3x3 convs, each block starting with a strided conv;
every block's output is up-sampled (transposed conv) to one common resolution and the results are concatenated."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ssal.models.config import BevBackboneConfig
from ssal.models.pillar_conv import pillar_conv
from ssal.models.pointwise import ConvTranspose1x1


def _conv_bn_relu(cin: int, cout: int, stride: int, momentum: float) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout, eps=1e-3, momentum=momentum), nn.ReLU()]


class BevBackbone(nn.Module):
    """(B, C_in, ny, nx) canvas -> (B, sum(num_upsample_filters), ny / s, nx / s), s = ``layer_strides[0] /
    upsample_strides[0]``."""

    def __init__(self, cfg: BevBackboneConfig, in_channels: int, bn_momentum: float = 0.01):
        super().__init__()
        self.blocks = nn.ModuleList()
        self.deblocks = nn.ModuleList()
        cin = in_channels
        for n, stride, cout, up, up_out in zip(cfg.layer_nums, cfg.layer_strides, cfg.num_filters,
                                               cfg.upsample_strides, cfg.num_upsample_filters):
            layers = _conv_bn_relu(cin, cout, stride, bn_momentum)
            for _ in range(n):
                layers += _conv_bn_relu(cout, cout, 1, bn_momentum)
            self.blocks.append(nn.Sequential(*layers))
            upsample = ConvTranspose1x1(cout, up_out, bias=False) if up == 1 else \
                nn.ConvTranspose2d(cout, up_out, up, stride=up, bias=False)
            self.deblocks.append(nn.Sequential(
                upsample,
                nn.BatchNorm2d(up_out, eps=1e-3, momentum=bn_momentum), nn.ReLU()))
            cin = cout
        self.out_channels = sum(cfg.num_upsample_filters)

    def forward(self, canvas: Tensor) -> Tensor:
        """From the dense pillar canvas."""
        return self._after_first_conv(self.blocks[0][0](canvas))

    def forward_pillars(self, features: Tensor, coords: Tensor, batch_size: int, grid_size: tuple[int, int],
                        memory_format: torch.memory_format = torch.contiguous_format) -> Tensor:
        """The same map from the pillars (``features`` (P, C_in), ``coords`` (P, 3) ``(batch, iy, ix)``) without the
        canvas: the first convolution reads only the occupied cells (``pillar_conv``), which on CPU makes it several
        times cheaper, above all its backward pass. ``memory_format``: the layout the other convolutions run in."""
        first = self.blocks[0][0]
        x = pillar_conv(features, coords, first.weight, batch_size, grid_size, first.stride[0], first.padding[0])
        return self._after_first_conv(x.contiguous(memory_format=memory_format))

    def _after_first_conv(self, x: Tensor) -> Tensor:
        outputs = []
        for i, (block, deblock) in enumerate(zip(self.blocks, self.deblocks)):
            x = block[1:](x) if i == 0 else block(x)
            outputs.append(deblock(x))
        # A grid not divisible by a deep block's stride comes back a few cells larger; cut it to the first branch.
        h, w = outputs[0].shape[-2:]
        return torch.cat([o[..., :h, :w] for o in outputs], dim=1)
