"""The residual box coder (SECOND / OpenPCDet ResidualCoder) and the sin-difference trick for heading losses.

A box ``g`` is encoded relative to a reference box ``a`` (an anchor, or a RoI in its own canonical frame) as
``((xg - xa) / d, (yg - ya) / d, (zg - za) / dza, log(dxg / dxa), log(dyg / dya), log(dzg / dza), hg - ha)`` with
``d = sqrt(dxa^2 + dya^2)``, the reference's BEV diagonal.
"""

from __future__ import annotations

import torch
from torch import Tensor

CODE_SIZE = 7
_MIN_SIZE = 1e-5  # keeps log() finite when encoding degenerate boxes (zero-size padding)


def encode_boxes(boxes: Tensor, reference: Tensor) -> Tensor:
    """Residuals (..., 7) of ``boxes`` (..., 7) relative to ``reference`` (..., 7)."""
    xa, ya, za, dxa, dya, dza, ha = _unbind(reference)
    xg, yg, zg, dxg, dyg, dzg, hg = _unbind(boxes)
    diagonal = torch.sqrt(dxa**2 + dya**2)
    return torch.stack((
        (xg - xa) / diagonal, (yg - ya) / diagonal, (zg - za) / dza,
        torch.log(dxg / dxa), torch.log(dyg / dya), torch.log(dzg / dza), hg - ha,
    ), dim=-1)


def decode_boxes(residuals: Tensor, reference: Tensor) -> Tensor:
    """Boxes (..., 7) from ``residuals`` (..., 7) relative to ``reference`` (..., 7); inverse of ``encode_boxes``.
    A zero-size reference (padding) decodes to a zero-size box at its centre."""
    xa, ya, za, dxa, dya, dza, ha = reference[..., :CODE_SIZE].unbind(-1)
    xt, yt, zt, dxt, dyt, dzt, ht = residuals.unbind(-1)
    diagonal = torch.sqrt(dxa**2 + dya**2)
    return torch.stack((
        xt * diagonal + xa, yt * diagonal + ya, zt * dza + za,
        torch.exp(dxt) * dxa, torch.exp(dyt) * dya, torch.exp(dzt) * dza, ht + ha,
    ), dim=-1)


def add_sin_difference(pred: Tensor, target: Tensor, dim: int = 6) -> tuple[Tensor, Tensor]:
    """Replace the heading residual of ``pred`` and ``target`` (..., 7) by ``sin(p)cos(t)`` and ``cos(p)sin(t)``.

    A smooth-L1 on these two equals a loss on ``sin(p - t)``: headings that differ by pi cost nothing (the
    direction classifier settles those), and the wrap-around at +-pi has no discontinuity.
    """
    p, t = pred[..., dim:dim + 1], target[..., dim:dim + 1]
    pred = torch.cat((pred[..., :dim], torch.sin(p) * torch.cos(t), pred[..., dim + 1:]), dim=-1)
    target = torch.cat((target[..., :dim], torch.cos(p) * torch.sin(t), target[..., dim + 1:]), dim=-1)
    return pred, target


def _unbind(boxes: Tensor) -> tuple[Tensor, ...]:
    x, y, z, dx, dy, dz, h = boxes[..., :CODE_SIZE].unbind(-1)
    return x, y, z, dx.clamp_min(_MIN_SIZE), dy.clamp_min(_MIN_SIZE), dz.clamp_min(_MIN_SIZE), h
