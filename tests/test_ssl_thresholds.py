"""CPSP thresholds: tau is the top centroid of a deterministic 1-D k-means, per class, reproducible, and one class
never moves another; the cpsp: config section is validated against the classes."""

import json
from pathlib import Path

import numpy as np
import pytest

from ssal.config import load_config
from ssal.errors import SsalError
from ssal.ssl.thresholds import fit_thresholds, kmeans_1d, load_thresholds, scores_per_class

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "synthetic"

CLASSES = ["Car", "Pedestrian", "Cyclist"]
CENTERS = {c: 20 for c in CLASSES}
FALLBACK = {"Car": 0.91, "Pedestrian": 0.92, "Cyclist": 0.93}
LOW = {c: 0.2 for c in CLASSES}


def pool_scores(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    confident = rng.normal(0.95, 0.01, 40).clip(0, 1)
    return {"Car": np.concatenate((rng.uniform(0.1, 0.6, 400), confident)),
            "Pedestrian": rng.uniform(0.1, 0.8, 120), "Cyclist": rng.uniform(0.1, 0.5, 30)}


def test_kmeans_finds_separated_clusters_and_is_deterministic():
    values = np.concatenate((np.full(10, 0.2), np.full(5, 0.5), np.full(7, 0.9)))
    np.testing.assert_allclose(kmeans_1d(values, 3), [0.2, 0.5, 0.9])
    shuffled = np.random.default_rng(0).permutation(values)
    assert np.array_equal(kmeans_1d(shuffled, 3), kmeans_1d(values, 3))
    np.testing.assert_allclose(kmeans_1d([0.3, 0.1, 0.2], 3), [0.1, 0.2, 0.3])  # k = n: every score a centre
    with pytest.raises(ValueError):
        kmeans_1d([0.1, 0.2], 3)


def test_tau_is_the_top_centroid_and_the_same_inputs_give_the_same_thresholds():
    first = fit_thresholds(pool_scores(1), CENTERS, 10, FALLBACK, LOW)
    again = fit_thresholds({c: np.random.default_rng(5).permutation(v) for c, v in pool_scores(1).items()},
                           CENTERS, 10, FALLBACK, LOW)
    assert first.high == again.high
    assert 0.93 < first.high["Car"] < 0.97  # the confident cluster near 0.95
    assert first.clusters == {"Car": 30, "Pedestrian": 30, "Cyclist": 30}  # k = min(K + 10, n)
    assert first.low == LOW and first.counts == {"Car": 440, "Pedestrian": 120, "Cyclist": 30}


def test_a_class_without_predictions_keeps_its_fallback_and_moves_no_other_class():
    full = fit_thresholds(pool_scores(2), CENTERS, 10, FALLBACK, LOW)
    without = dict(pool_scores(2))
    del without["Pedestrian"]
    partial = fit_thresholds(without, CENTERS, 10, FALLBACK, LOW)
    assert partial.high["Pedestrian"] == 0.92 and partial.source["Pedestrian"] == "fallback"
    assert partial.high["Car"] == full.high["Car"] and partial.high["Cyclist"] == full.high["Cyclist"]
    one = fit_thresholds({"Car": np.array([0.7])}, CENTERS, 10, FALLBACK, LOW, min_predictions=2)
    assert one.high == FALLBACK and one.counts["Car"] == 1  # too few scores: fallback, count recorded


def test_scores_split_by_one_based_class_ids():
    split = scores_per_class(np.array([0.1, 0.2, 0.3]), np.array([3, 1, 3]), CLASSES)
    assert split["Car"].tolist() == pytest.approx([0.2]) and split["Cyclist"].tolist() == pytest.approx([0.1, 0.3])
    assert len(split["Pedestrian"]) == 0


def test_thresholds_file_holds_values_and_counts(tmp_path):
    fitted = fit_thresholds(pool_scores(3), CENTERS, 10, FALLBACK, LOW)
    fitted.save(tmp_path / "thresholds.json")
    stored = json.loads((tmp_path / "thresholds.json").read_text())
    assert stored["kind"] == "ssal-cpsp-thresholds" and stored["counts"]["Car"] == 440
    assert load_thresholds(tmp_path / "thresholds.json").high == fitted.high
    (tmp_path / "bad.json").write_text('{"kind": "x"}')
    with pytest.raises(SsalError, match="bad.json"):
        load_thresholds(tmp_path / "bad.json")


@pytest.mark.parametrize("override, key", [
    ("cpsp.sample_groups={Truck: 3}", "cpsp.sample_groups.Truck"),
    ("cpsp.low_threshold={Car: 1.5}", "cpsp.low_threshold.Car"),
    ("cpsp.labelled_probability=2", "cpsp.labelled_probability"),
    ("cpsp.repeat=0", "cpsp.repeat"),
])
def test_bad_cpsp_settings_are_one_line_errors_naming_the_key(override, key):
    with pytest.raises(SsalError, match=key.replace(".", r"\.")):
        load_config(CONFIGS / "tiny.yaml", [override])


def test_stage_values_follow_the_paper_per_stage():
    config = load_config(CONFIGS.parent / "kitti" / "pillar_rcnn.yaml")
    pretrain, final = config.cpsp.stage(CLASSES, False), config.cpsp.stage(CLASSES, True)
    assert pretrain.low_threshold["Car"] == 0.2 and final.low_threshold["Car"] == 0.15
    assert pretrain.back_groups == {c: 3 for c in CLASSES} and final.back_groups == {}
    assert (pretrain.repeat, final.repeat) == (20, 10)
    waymo = load_config(CONFIGS.parent / "waymo" / "pillar_rcnn.yaml").cpsp
    assert waymo.stage(["Vehicle", "Pedestrian", "Cyclist"], False).kmeans_centers["Vehicle"] == 50
    assert waymo.labelled_probability == 0.5
