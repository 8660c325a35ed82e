"""The optimiser and its one-cycle schedule (OpenPCDet's ``adam_onecycle``, after fastai).

* Adam with decoupled weight decay (``p <- p * (1 - lr * wd)`` before the Adam update) on **every** parameter,
  BatchNorm and biases included, which is what fastai's ``true_wd=True, bn_wd=True`` wrapper does; that is
  exactly ``torch.optim.AdamW`` with a single parameter group.
* One cycle over all training steps: the learning rate rises on a half cosine from ``lr / div_factor`` to ``lr``
  during the first ``pct_start`` of the steps, then falls on a half cosine to ``lr / div_factor /
  final_div_factor``; Adam's beta1 moves the opposite way, ``moms[0] -> moms[1] -> moms[0]``; beta2 stays fixed.
  The warm-up ends at step ``int(pct_start * total_steps)``, as in OpenPCDet.

The schedule is a pure function of the global step, so resuming needs nothing but the step count.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ssal.engine.config import TrainConfig

__all__ = ["build_optimizer", "OneCycle", "cosine_anneal"]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters of ``model`` (weight decay on all of them); lr/beta1 are set per step."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the model has no trainable parameters")
    return torch.optim.AdamW(
        parameters,
        lr=config.lr / config.div_factor,
        betas=(config.moms[0], config.beta2),
        weight_decay=config.weight_decay,
        eps=1e-8,
    )


def cosine_anneal(start: float, end: float, fraction: float) -> float:
    """Half-cosine from ``start`` (fraction 0) to ``end`` (fraction 1)."""
    return end + (start - end) * (1.0 + math.cos(math.pi * fraction)) / 2.0


@dataclass(frozen=True)
class OneCycle:
    """The one-cycle learning-rate and beta1 schedule over ``total_steps`` optimiser steps.

    ``values(step)`` gives ``(lr, beta1)`` for 0-based ``step``; ``apply(optimizer, step)`` writes them into every
    parameter group. Steps past the end keep the final values.
    """

    total_steps: int
    lr: float
    div_factor: float = 10.0
    pct_start: float = 0.4
    final_div_factor: float = 1e4
    moms: tuple[float, float] = (0.95, 0.85)

    @classmethod
    def from_config(cls, config: TrainConfig, total_steps: int) -> OneCycle:
        return cls(
            total_steps=total_steps,
            lr=config.lr,
            div_factor=config.div_factor,
            pct_start=config.pct_start,
            final_div_factor=config.final_div_factor,
            moms=tuple(config.moms),
        )

    def __post_init__(self) -> None:
        if self.total_steps < 1:
            raise ValueError(f"a one-cycle schedule needs at least one step, got total_steps={self.total_steps}")

    @property
    def warmup_steps(self) -> int:
        return int(self.pct_start * self.total_steps)

    def values(self, step: int) -> tuple[float, float]:
        """``(learning rate, beta1)`` at 0-based ``step``."""
        start_lr = self.lr / self.div_factor
        final_lr = start_lr / self.final_div_factor
        warmup = self.warmup_steps
        step = min(max(step, 0), self.total_steps)
        if step < warmup:
            fraction = step / warmup
            return cosine_anneal(start_lr, self.lr, fraction), cosine_anneal(self.moms[0], self.moms[1], fraction)
        fraction = (step - warmup) / (self.total_steps - warmup)
        return cosine_anneal(self.lr, final_lr, fraction), cosine_anneal(self.moms[1], self.moms[0], fraction)

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> tuple[float, float]:
        """Set lr and beta1 of every parameter group for ``step``; returns them."""
        lr, beta1 = self.values(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
            if "betas" in group:
                group["betas"] = (beta1, group["betas"][1])
        return lr, beta1

    def state_dict(self) -> dict:
        values = asdict(self)
        values["moms"] = list(self.moms)
        return values
