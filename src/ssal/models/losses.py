"""Detection losses: sigmoid focal, weighted smooth-L1, direction cross-entropy and the corner loss.

Each returns an unreduced, weighted tensor or a scalar as documented; the heads choose the normalisation."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from ssal.geometry import boxes_to_corners_3d


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, weights: Tensor, alpha: float = 0.25,
                       gamma: float = 2.0) -> Tensor:
    """Focal loss (Lin et al.) per element.

    Args:
        logits: (..., C) class logits; targets: (..., C) one-hot (all zeros for background);
        weights: (...) per-anchor weights (0 ignores an anchor).

    Returns:
        (..., C) weighted losses.
    """
    prob = torch.sigmoid(logits)
    p_t = targets * prob + (1 - targets) * (1 - prob)
    alpha_t = targets * alpha + (1 - targets) * (1 - alpha)
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return alpha_t * (1 - p_t).pow(gamma) * bce * weights[..., None]


def smooth_l1(pred: Tensor, target: Tensor, beta: float) -> Tensor:
    """Element-wise smooth-L1 (Huber / beta): quadratic below ``beta``, linear above. NaN targets count zero."""
    target = torch.where(torch.isnan(target), pred.detach(), target)
    diff = (pred - target).abs()
    if beta < 1e-5:
        return diff
    return torch.where(diff < beta, 0.5 * diff**2 / beta, diff - 0.5 * beta)


def weighted_smooth_l1(pred: Tensor, target: Tensor, weights: Tensor, beta: float) -> Tensor:
    """(..., 7) smooth-L1 of residuals (..., 7) times per-box ``weights`` (...)."""
    return smooth_l1(pred, target, beta) * weights[..., None]


def direction_loss(logits: Tensor, bins: Tensor, weights: Tensor) -> Tensor:
    """(...) cross-entropy of direction-bin ``logits`` (..., K) against ``bins`` (...) long, times ``weights``."""
    flat = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), bins.reshape(-1), reduction="none")
    return flat.view(bins.shape) * weights


def corner_loss(pred_boxes: Tensor, gt_boxes: Tensor, delta: float = 1.0) -> Tensor:
    """(N,) mean Huber distance between the 8 corners of predicted and GT boxes (N, 7), taking for each box the
    better of the GT and the GT turned by pi (a box pointing backwards has the same corners, reordered)."""
    pred = boxes_to_corners_3d(pred_boxes)
    gt = boxes_to_corners_3d(gt_boxes)
    flipped = gt_boxes.clone()
    flipped[:, 6] = flipped[:, 6] + math.pi
    gt_flipped = boxes_to_corners_3d(flipped)
    distance = torch.minimum((pred - gt).norm(dim=2), (pred - gt_flipped).norm(dim=2))
    huber = torch.where(distance < delta, 0.5 * distance**2, delta * (distance - 0.5 * delta))
    return huber.mean(dim=1)
