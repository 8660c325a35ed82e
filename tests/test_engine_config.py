"""TrainConfig: defaults follow the paper; bad values are one-line errors naming train.<key>."""

from __future__ import annotations

import pytest
import yaml

from ssal.config import load_config
from ssal.engine import TrainConfig
from ssal.errors import SsalError


def test_defaults_are_the_papers_kitti_settings():
    config = TrainConfig().validate()
    assert (config.lr, config.weight_decay, config.div_factor, config.pct_start) == (0.01, 0.01, 10.0, 0.4)
    assert (config.moms, config.beta2, config.grad_clip_norm, config.final_div_factor) == ((0.95, 0.85), 0.99, 10, 1e4)


def _load(tmp_path, values: dict):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"train": values}))
    return load_config(path).train


def test_the_train_section_of_a_config_reads_yaml_values(tmp_path):
    config = _load(tmp_path, {"epochs": 3, "moms": [0.9, 0.8], "amp": "off"})
    assert config.epochs == 3 and config.moms == (0.9, 0.8) and config.amp == "off"
    assert _load(tmp_path, config.to_dict()) == config


@pytest.mark.parametrize(
    ("values", "what"),
    [
        ({"epochs": 0}, "train.epochs: expected an integer >= 1"),
        ({"batch_size": 2.5}, "train.batch_size: expected an integer"),
        ({"workers": True}, "train.workers: expected an integer"),
        ({"lr": -1}, "train.lr: expected a number in (0, inf]"),
        ({"lr": float("nan")}, "train.lr: expected a finite number"),
        ({"pct_start": 1.0}, "train.pct_start: expected a number in (0, 1)"),
        ({"moms": [0.95]}, "train.moms: expected a list of 2 values"),
        ({"amp": "fp8"}, "train.amp: expected one of auto, off, bf16, fp16"),
        ({"seed": -3}, "train.seed: expected an integer in"),
        ({"deterministic": "yes"}, "train.deterministic: expected true or false"),
        ({"learning_rate": 0.1}, "unknown key 'train.learning_rate' (known keys of train: epochs, batch_size"),
    ],
)
def test_bad_values_name_the_file_and_the_key(tmp_path, values, what):
    with pytest.raises(SsalError) as error:
        _load(tmp_path, values)
    assert error.value.where == str(tmp_path / "run.yaml") and what in error.value.message
    assert "\n" not in str(error.value)


def test_the_prefix_of_where_is_the_callers():
    with pytest.raises(SsalError) as error:
        TrainConfig(log_interval=0).validate(where="stages.cpsp.train")
    assert error.value.where == "stages.cpsp.train.log_interval"
