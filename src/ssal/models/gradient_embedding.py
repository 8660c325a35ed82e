"""Gradient embeddings for BADGE (Ash et al. 2020) from the detector's eval outputs.

BADGE represents a prediction by the gradient of its loss, with the model's own predicted label as the target,
with respect to the last layer's parameters. For the IoU-guided confidence (one sigmoid logit ``z`` computed as
``w . h + b`` from the hidden vector ``h``) and the label ``y = [sigmoid(z) >= 0.5]``, that gradient is
``(sigmoid(z) - y) * [h, 1]``: its length grows with uncertainty and its direction follows the RoI's features.
Ask the detector for ``h`` and ``z`` with ``model(batch, return_hidden=True)`` (keys ``rcnn_hidden`` and
``rcnn_logits`` of each frame's prediction dict).
"""

from __future__ import annotations

import torch
from torch import Tensor


def badge_embedding(logits: Tensor, hidden: Tensor) -> Tensor:
    """(K, H + 1) gradient of BCE(sigmoid(logits), predicted label) w.r.t. the last layer's weight and bias, for
    ``logits`` (K,) and ``hidden`` (K, H)."""
    prob = torch.sigmoid(logits)
    label = (prob >= 0.5).to(prob.dtype)
    with_bias = torch.cat((hidden, torch.ones_like(hidden[:, :1])), dim=1)
    return (prob - label)[:, None] * with_bias
