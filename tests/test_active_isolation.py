"""No strategy can reach the labels of unlabelled frames: not through its arguments, not through an import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ssal.active import Budget, Ledger, SimulatedOracle, get_strategy
from ssal.active.initial import select_initial
from ssal.active.query import query_round
from ssal.active.simulated_outputs import simulated_outputs
from ssal.active.strategies import STRATEGY_NAMES

STRATEGIES = Path(__file__).resolve().parents[1] / "src" / "ssal" / "active" / "strategies"
CLASSES = ("Car", "Pedestrian", "Cyclist")
FORBIDDEN = ("ssal.data", "ssal.active.oracle", "ssal.active.annotation", "ssal.active.initial",
             "ssal.active.query", "ssal.active.pool_inference", "pickle")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(STRATEGIES.glob("*.py")), ids=lambda p: p.name)
def test_strategy_modules_import_nothing_that_holds_labels(path):
    bad = [m for m in imported_modules(path) if m.startswith(FORBIDDEN)]
    assert not bad, f"{path.name} imports {bad}"


def test_loading_every_strategy_loads_no_dataset_code():
    code = ("import sys\nfrom ssal.active.strategies import STRATEGY_NAMES, get_strategy\n"
            "[get_strategy(n) for n in STRATEGY_NAMES]\n"
            "print(sorted(m for m in sys.modules if m.startswith('ssal.data')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_poisoned_labels_of_unlabelled_frames_change_nothing_in_the_ranking(name, tmp_path):
    outputs = simulated_outputs(150, np.random.default_rng(0), mc_passes=5, gradients=True, num_points=True)
    rng = np.random.default_rng(1)
    truth = {f: rng.poisson([3, 1, 0.5]).tolist() for f in outputs.frame_ids}

    rankings, bought = [], []
    for poison in (False, True):
        ledger = Ledger.create("kitti", "train", CLASSES, outputs.frame_ids)
        select_initial(ledger, SimulatedOracle(CLASSES, truth), Budget(30), seed=0)
        labelled = set(ledger.labelled)
        counts = {f: (c if f in labelled or not poison else [40, 0, 0]) for f, c in truth.items()}
        ranking, item, _ = query_round(get_strategy(name), outputs, ledger, Budget(40), seed=5,
                                       oracle=SimulatedOracle(CLASSES, counts), out_dir=tmp_path / str(poison))
        rankings.append(ranking.frame_ids)
        bought.append(item.frames)
    assert rankings[0] == rankings[1]
    assert bought[0] != bought[1]  # the oracle did see the poison: only the strategy could not
