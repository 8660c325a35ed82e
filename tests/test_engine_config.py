"""TrainConfig: defaults follow the paper; bad values are one-line errors naming train.<key>."""

from __future__ import annotations

import pytest

from ssal.engine import TrainConfig
from ssal.errors import SsalError


def test_defaults_are_the_papers_kitti_settings():
    config = TrainConfig().validate()
    assert (config.lr, config.weight_decay, config.div_factor, config.pct_start) == (0.01, 0.01, 10.0, 0.4)
    assert (config.moms, config.beta2, config.grad_clip_norm, config.final_div_factor) == ((0.95, 0.85), 0.99, 10, 1e4)


def test_from_mapping_reads_yaml_values():
    config = TrainConfig.from_mapping({"epochs": 3, "moms": [0.9, 0.8], "amp": "off"})
    assert config.epochs == 3 and config.moms == (0.9, 0.8) and config.amp == "off"
    assert TrainConfig.from_mapping(config.to_dict()) == config


@pytest.mark.parametrize(
    ("values", "where", "what"),
    [
        ({"epochs": 0}, "train.epochs", "integer >= 1"),
        ({"batch_size": 2.5}, "train.batch_size", "expected an integer"),
        ({"workers": True}, "train.workers", "expected an integer"),
        ({"lr": -1}, "train.lr", "(0, inf]"),
        ({"lr": float("nan")}, "train.lr", "finite"),
        ({"pct_start": 1.0}, "train.pct_start", "(0, 1)"),
        ({"moms": [0.95]}, "train.moms", "two numbers"),
        ({"amp": "fp8"}, "train.amp", "auto, off, bf16, fp16"),
        ({"seed": -3}, "train.seed", "integer in"),
        ({"deterministic": "yes"}, "train.deterministic", "true or false"),
        ({"learning_rate": 0.1}, "train.learning_rate", "unknown key; expected one of: amp, batch_size"),
    ],
)
def test_bad_values_name_the_key(values, where, what):
    with pytest.raises(SsalError) as error:
        TrainConfig.from_mapping(values)
    assert error.value.where == where and what in error.value.message
    assert "\n" not in str(error.value)


def test_the_prefix_of_where_is_the_callers():
    with pytest.raises(SsalError) as error:
        TrainConfig(log_interval=0).validate(where="stages.cpsp.train")
    assert error.value.where == "stages.cpsp.train.log_interval"
