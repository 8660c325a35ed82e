"""The optimiser and the one-cycle schedule (OpenPCDet's adam_onecycle)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ssal.engine import OneCycle, TrainConfig, build_optimizer


def test_one_cycle_rises_from_a_tenth_to_the_peak_then_falls_four_orders_lower():
    schedule = OneCycle.from_config(TrainConfig(lr=0.01), total_steps=1000)
    lrs = [schedule.values(step)[0] for step in range(1000)]
    assert lrs[0] == pytest.approx(0.001)
    assert max(lrs) == pytest.approx(0.01) and lrs.index(max(lrs)) == 400  # end of the warm-up (40 %)
    # it ends at lr / 10 / 1e4 as the steps run out (the last step, 999, is one cosine tick above that)
    assert schedule.values(1000)[0] == pytest.approx(0.001 / 1e4) and lrs[-1] < 2e-7
    assert all(a < b for a, b in zip(lrs[:400], lrs[1:401])) and all(a > b for a, b in zip(lrs[400:], lrs[401:]))
    # cosine: half way through the warm-up the rate is half way between start and peak
    assert lrs[200] == pytest.approx((0.001 + 0.01) / 2)


def test_beta1_cycles_opposite_to_the_learning_rate():
    schedule = OneCycle.from_config(TrainConfig(), total_steps=100)
    betas = [schedule.values(step)[1] for step in range(101)]
    assert betas[0] == pytest.approx(0.95) and betas[40] == pytest.approx(0.85) and betas[100] == pytest.approx(0.95)
    assert min(betas) == betas[40]


def test_apply_writes_lr_and_beta1_and_keeps_beta2():
    model = nn.Linear(3, 1)
    optimizer = build_optimizer(model, TrainConfig(lr=0.02))
    schedule = OneCycle.from_config(TrainConfig(lr=0.02), total_steps=10)
    lr, beta1 = schedule.apply(optimizer, 4)
    group = optimizer.param_groups[0]
    assert group["lr"] == lr == pytest.approx(0.02) and group["betas"] == (beta1, 0.99)


def test_tiny_schedules_and_steps_past_the_end_are_well_defined():
    assert OneCycle(total_steps=1, lr=1.0).values(0) == pytest.approx((1.0, 0.85))  # no room for a warm-up
    end = OneCycle(total_steps=5, lr=1.0)
    assert end.values(99) == end.values(5)
    with pytest.raises(ValueError):
        OneCycle(total_steps=0, lr=1.0)


def test_weight_decay_is_decoupled_and_applies_to_batchnorm_too():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    optimizer = build_optimizer(model, TrainConfig(weight_decay=0.5))
    before = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # no gradient: only the decay moves the weights
    for group in optimizer.param_groups:
        group["lr"] = 0.1
    optimizer.step()
    for old, new in zip(before, model.parameters()):
        assert torch.allclose(new, old * (1 - 0.1 * 0.5))
    assert len(optimizer.param_groups) == 1 and math.isclose(optimizer.param_groups[0]["weight_decay"], 0.5)


def test_frozen_parameters_are_left_out():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    model[0].requires_grad_(False)
    optimizer = build_optimizer(model, TrainConfig())
    assert sum(p.numel() for p in optimizer.param_groups[0]["params"]) == 3
