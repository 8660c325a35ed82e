"""1x1 convolutions as matrix products: the same values and gradients as PyTorch's convolutions."""

import torch
from torch.nn import functional as F

from ssal.models.pointwise import Conv1x1, ConvTranspose1x1


def test_pointwise_layers_match_the_convolutions_they_replace():
    x = torch.randn(2, 8, 5, 7).to(memory_format=torch.channels_last).requires_grad_(True)
    for layer, reference in ((Conv1x1(8, 6), F.conv2d), (ConvTranspose1x1(8, 6), F.conv_transpose2d)):
        layer = layer.to(memory_format=torch.channels_last)
        out = layer(x)
        expected = reference(x, layer.weight, layer.bias)
        torch.testing.assert_close(out, expected)
        assert out.is_contiguous(memory_format=torch.channels_last)
        grads = torch.autograd.grad(out.square().sum(), (x, layer.weight, layer.bias))
        expected_grads = torch.autograd.grad(expected.square().sum(), (x, layer.weight, layer.bias))
        for got, want in zip(grads, expected_grads):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
