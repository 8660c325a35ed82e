"""The Waymo path end to end: configs that point at the layout, ``ssal train`` and ``ssal evaluate`` on a synthetic
Waymo world, and evaluation that reports AP/APH at LEVEL_1 and LEVEL_2 through the Waymo metric."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ssal.cli import main
from ssal.config import load_config
from ssal.data.datasets import dataset_from_config
from ssal.data.synthetic.waymo_generate import generate_waymo
from ssal.pipeline.prediction import evaluate_frames, format_metrics

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = CONFIGS / "synthetic" / "waymo_tiny.yaml"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("waymo_pipeline") / "waymo"
    generate_waymo(root, sequences=2, frames_per_sequence=4, seed=2, val_sequences=1, preset="waymo-small")
    return root


def test_the_real_waymo_config_samples_as_the_paper():
    config = load_config(CONFIGS / "waymo" / "pillar_rcnn.yaml")
    assert config.data.format == "waymo" and config.data.classes == ["Vehicle", "Pedestrian", "Cyclist"]
    assert config.data.sampled_interval == {"train": 20, "val": 10}
    assert config.model.num_point_features == 5 and config.model.point_cloud_range[3] == 75.2
    assert not config.data.drop_nlz_points and config.augment.flip_y


def test_the_reader_follows_the_config(world):
    config = load_config(TINY, [f"data.root={world}", "data.sampled_interval={train: 3}", "data.drop_nlz_points=true"])
    reader = dataset_from_config(config.data)
    assert reader.name == "waymo" and reader.drop_nlz_points and reader.tag == "waymo_processed_data_v0_5_0"
    assert len(reader.split_ids("train")) == 3  # frames 0, 3, 6 of 8
    with pytest.raises(Exception, match="sampled_interval.train"):
        load_config(TINY, ["data.sampled_interval={train: 0}"])


def test_perfect_detections_score_100_and_none_score_0(world):
    config = load_config(TINY, [f"data.root={world}"])
    infos = dataset_from_config(config.data).infos("val")
    classes = config.data.classes
    perfect = []
    for info in infos:
        wanted = np.isin(info.annos.name, classes)
        perfect.append({"boxes": info.annos.gt_boxes_lidar[wanted, :7],
                        "scores": np.linspace(0.9, 0.5, int(wanted.sum())),
                        "labels": np.array([classes.index(n) + 1 for n in info.annos.name[wanted]])})
    metrics = evaluate_frames(config, infos, perfect)
    present = {str(n) for info in infos for n, k in zip(info.annos.name, info.annos.num_points_in_gt) if k > 0}
    for name in present & set(classes):
        assert metrics[name]["LEVEL_2"]["AP"] == pytest.approx(100.0)
        assert metrics[name]["LEVEL_2"]["APH"] == pytest.approx(100.0)
    empty = [{"boxes": np.zeros((0, 7)), "scores": np.zeros(0), "labels": np.zeros(0, np.int64)} for _ in infos]
    assert evaluate_frames(config, infos, empty)["mean"]["LEVEL_1"]["AP"] == 0.0
    table = format_metrics(config, metrics)
    assert "LEVEL_1" in table and "APH" in table and table.splitlines()[-1].startswith("mean")


def test_train_one_epoch_then_evaluate(world, tmp_path, capsys):
    # Every other frame (4 to train on, 2 to evaluate): the sampling interval through the command line, and quick.
    common = ["--config", str(TINY), "--data-root", str(world), "--set", "data.sampled_interval={train: 2, val: 2}"]
    assert main(["train", *common, "--out", str(tmp_path / "run"), "--epochs", "1"]) == 0
    assert main(["evaluate", *common, "--ckpt", str(tmp_path / "run" / "ckpt" / "latest.pth"),
                 "--out", str(tmp_path / "eval")]) == 0
    out = capsys.readouterr().out
    assert "Waymo 3-D detection" in out and "Vehicle" in out
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(metrics) == {"Vehicle", "Pedestrian", "Cyclist", "mean", "evaluated"}  # ssal.eval.metrics_file
    assert metrics["evaluated"]["frames"] == 2
    assert set(metrics["Vehicle"]) == {"LEVEL_1", "LEVEL_2"} and set(metrics["mean"]["LEVEL_2"]) == {"AP", "APH"}
    assert (tmp_path / "eval" / "predictions.pkl").is_file()
    assert not (tmp_path / "eval" / "results").exists()  # KITTI result files only for KITTI data
