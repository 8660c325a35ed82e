"""CRB's code where it differs from its paper, behind ``active.crb`` switches: absent-class smoothing of the
label entropy (stage 1) and one density grid per class (stage 3). The benchmark's CRB-code variant uses both,
so that comparisons with published CRB numbers are honest; the defaults stay the textbook version."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ssal.active import Budget, Ledger, PoolOutputs, get_strategy
from ssal.active.config import ActiveConfig, CrbConfig
from ssal.active.ledger import Round
from ssal.active.simulated_outputs import simulated_outputs
from ssal.active.strategies.crb import _DensityBalance, box_densities, label_entropy
from ssal.config import load_config

CLASSES = ("Car", "Pedestrian", "Cyclist")


def outputs_with_labels(per_frame: list[list[int]]) -> PoolOutputs:
    """Pool outputs whose frames predict the given 1-based labels (other arrays filled plausibly)."""
    labels = np.array([label for frame in per_frame for label in frame], dtype=np.int16)
    n = len(labels)
    arrays = {"boxes": np.tile(np.array([10, 0, -1, 4, 1.6, 1.5, 0], np.float32), (n, 1)),
              "scores": np.full(n, 0.7, np.float32), "labels": labels,
              "cls_probs": np.full((n, 3), 1 / 3, np.float32), "roi_features": np.ones((n, 8), np.float16),
              "num_points": np.full(n, 50, np.int32)}
    offsets = np.concatenate(([0], np.cumsum([len(frame) for frame in per_frame])))
    return PoolOutputs([f"{i:06d}" for i in range(len(per_frame))], offsets, arrays, list(CLASSES))


def test_absent_class_smoothing_counts_every_missing_class_as_one_box():
    outputs = outputs_with_labels([[1], [1, 1, 1, 1], [1, 2, 3], []])
    plain = label_entropy(outputs)
    smoothed = label_entropy(outputs, absent_class_smoothing=True)
    np.testing.assert_allclose(plain, [0.0, 0.0, np.log(3), 0.0])
    p = np.array([4, 1, 1]) / 6
    np.testing.assert_allclose(smoothed, [np.log(3), -(p * np.log(p)).sum(), np.log(3), 0.0])


def pool(num_frames=200, labelled=20):
    outputs = simulated_outputs(num_frames, np.random.default_rng(1), num_points=True)
    ledger = Ledger.create("kitti", "train", CLASSES, outputs.frame_ids)
    ledger.add_round(Round(0, "initial", "random", 0, Budget(60), "stop_before", outputs.frame_ids[:labelled],
                           [[2, 1, 0]] * labelled))
    return outputs, ledger


def crb_ranking(**switches):
    outputs, ledger = pool()
    config = ActiveConfig(unit="frames", crb=CrbConfig(**switches))
    return get_strategy("crb", config).rank(outputs, ledger.view(), Budget(8, "frames"), np.random.default_rng(0))


def test_each_switch_changes_the_ranking_and_the_defaults_are_the_textbook_version():
    textbook = crb_ranking()
    assert crb_ranking(absent_class_smoothing=False, per_class_grid=False).frame_ids == textbook.frame_ids
    for switch in ("absent_class_smoothing", "per_class_grid"):
        variant = crb_ranking(**{switch: True})
        assert sorted(variant.frame_ids) == sorted(textbook.frame_ids)  # still the whole unlabelled pool
        assert variant.frame_ids[:8] != textbook.frame_ids[:8], switch


def test_per_class_grids_span_each_class_with_crb_margin():
    outputs, ledger = pool()
    densities, labels = box_densities(outputs), np.asarray(outputs.labels, dtype=np.int64)
    everyone = np.arange(len(outputs.frame_ids))
    shared = _DensityBalance(outputs, densities, labels, everyone, 5.0, 0.95)
    per_class = _DensityBalance(outputs, densities, labels, everyone, 5.0, 0.95, per_class_grid=True)
    assert all(np.array_equal(row, shared.grid[0]) for row in shared.grid)
    for k in range(3):
        top = densities[labels == k + 1].max()
        assert per_class.grid[k, 0] == -50.0 and np.isclose(per_class.grid[k, -1], top + 50.0)
        np.testing.assert_allclose(per_class.target[k].sum(), 1.0)


def test_the_switches_are_config_keys():
    tiny = Path(__file__).resolve().parents[1] / "configs" / "synthetic" / "tiny.yaml"
    config = load_config(tiny, ["active.crb.absent_class_smoothing=true", "active.crb.per_class_grid=true"])
    assert config.active.crb.absent_class_smoothing and config.active.crb.per_class_grid
    assert not load_config(tiny).active.crb.per_class_grid
