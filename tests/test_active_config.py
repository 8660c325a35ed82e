"""The ``active:`` config section: YAML to typed values, with one-line errors naming the key."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from ssal.active.config import ActiveConfig
from ssal.config.loader import load_config
from ssal.errors import SsalError


@dataclass
class RunWithActive:
    active: ActiveConfig = field(default_factory=ActiveConfig)


def load(tmp_path, text: str) -> ActiveConfig:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return load_config(path, RunWithActive).active


def test_paper_settings_load(tmp_path):
    active = load(tmp_path, "active:\n  strategy: cal\n  initial_budget: 200\n  round_budget: 150\n"
                            "  cal:\n    class_weights: [0.3, 1.1, 1.6]\n")
    assert active.unit == "boxes" and active.cal.class_weights == [0.3, 1.1, 1.6]
    assert active.cal.diversity_threshold == 0.9 and active.crb.k1 == 5.0 and active.mc_dropout.passes == 5


def test_crb_frame_protocol_loads(tmp_path):
    active = load(tmp_path, "active:\n  unit: frames\n  initial_budget: 100\n  round_budget: 100\n  rounds: 6\n"
                            "  strategy: crb\n")
    assert (active.unit, active.rounds, active.strategy) == ("frames", 6, "crb")


@pytest.mark.parametrize("text, message", [
    ("active:\n  strategy: bald\n", "active.strategy: unknown strategy 'bald' (known: random, entropy"),
    ("active:\n  unit: points\n", "active.unit: expected one of 'boxes', 'frames'"),
    ("active:\n  round_budget: 0\n", "active.round_budget: must be at least 1"),
    ("active:\n  cal:\n    diversity_threshold: 1.5\n", "active.cal.diversity_threshold: must lie in [0, 1]"),
    ("active:\n  crb:\n    k1: 2\n    k2: 3\n", "active.crb.k1: need k1 >= k2 >= 1"),
    ("active:\n  selection_multiple: 0.5\n", "active.selection_multiple: must be at least 1"),
    ("active:\n  cal:\n    quotas: [1]\n", "unknown key 'active.cal.quotas'"),
])
def test_bad_values_name_the_file_and_key(tmp_path, text, message):
    with pytest.raises(SsalError, match="run.yaml: " + message.replace("[", r"\[").replace("(", r"\(")):
        load(tmp_path, text)
