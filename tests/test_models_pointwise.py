"""1x1 convolutions as matrix products: the same values and gradients as PyTorch's convolutions, either layout."""

import pytest
import torch
from torch.nn import functional as F

from ssal.models.pointwise import Conv1x1, ConvTranspose1x1


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_pointwise_layers_match_the_convolutions_they_replace(layout):
    x = torch.randn(2, 8, 5, 7).to(memory_format=layout).requires_grad_(True)
    for layer, reference in ((Conv1x1(8, 6), F.conv2d), (ConvTranspose1x1(8, 6), F.conv_transpose2d)):
        out = layer(x)
        expected = reference(x, layer.weight, layer.bias)
        torch.testing.assert_close(out, expected)
        assert out.is_contiguous(memory_format=layout)
        grads = torch.autograd.grad(out.square().sum(), (x, layer.weight, layer.bias))
        expected_grads = torch.autograd.grad(expected.square().sum(), (x, layer.weight, layer.bias))
        for got, want in zip(grads, expected_grads):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
