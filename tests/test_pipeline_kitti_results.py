"""The path every reported KITTI number takes: LiDAR detections -> camera boxes, 2-D boxes and alpha
(``detections_to_kitti``) -> result files (``write_kitti_results``) -> evaluation against the frames' labels
(``ground_truth_labels``, ``evaluate_frames``), and the commands built on it (``ssal predict``, ``ssal evaluate``).

The real sample's ground-truth LiDAR boxes, sent down this path as detections with score 1, must give what the
official devkit gives for the ground truth as detections: Car R40 12.5 / 17.5 / 22.5 on the sample's training
frames and 10 / 30 / 35 on its validation frames. Provenance: ``evaluate_object_3d_offline`` (the devkit's
``cpp/evaluate_object.cpp`` with 41 recall points) compiled and run on ``kitti_sample/training/label_2`` with the
label files themselves as result files (score 1); the same figures are the devkit's small-sample rule n valid
objects -> (n - 1) / 40 (train: 6 / 8 / 10 cars, val: 5 / 13 / 15; see ``test_eval_kitti_sample``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ssal.cli import main
from ssal.config import load_config
from ssal.data.kitti import KittiDataset
from ssal.data.kitti_label import read_label_file
from ssal.data.kitti_results import detections_to_kitti, ground_truth_labels, write_kitti_results
from ssal.pipeline.prediction import evaluate_frames

TINY = Path(__file__).resolve().parents[1] / "configs" / "synthetic" / "tiny.yaml"
CLASSES = ("Car", "Pedestrian", "Cyclist")
DEVKIT_CAR_R40 = {"train": [12.5, 17.5, 22.5], "val": [10.0, 30.0, 35.0]}


@pytest.fixture(scope="module")
def config(kitti_sample):
    return load_config(TINY, [f"data.root={kitti_sample}"])


def as_predictions(info) -> dict[str, np.ndarray]:
    """A frame's labelled Car/Pedestrian/Cyclist LiDAR boxes as a detector's output (score 1, 1-based labels)."""
    keep = np.isin(info.annos.name, CLASSES)
    labels = np.array([CLASSES.index(n) + 1 for n in info.annos.name[keep]], dtype=np.int64)
    return {"boxes": info.annos.gt_boxes_lidar[keep], "scores": np.ones(len(labels)), "labels": labels}


def test_label_to_lidar_box_to_result_line_round_trips(kitti_sample, config, tmp_path):
    reader = KittiDataset(kitti_sample)
    checked = 0
    for split in ("train", "val"):
        for info in reader.infos(split, count_points=False):
            prediction = as_predictions(info)
            detections = detections_to_kitti(prediction["boxes"], prediction["scores"], prediction["labels"],
                                             config.data.classes, info)
            path = write_kitti_results(tmp_path, info.frame_id, detections)
            written = read_label_file(path, with_score=True)
            label = read_label_file(kitti_sample / "training" / "label_2" / f"{info.frame_id}.txt", with_score=False)
            label = label.select(np.isin(label.name, CLASSES))
            assert list(written.name) == list(label.name)
            for rows in (detections, written):  # before and after the text format
                np.testing.assert_allclose(rows.location, label.location, atol=1e-4)
                np.testing.assert_allclose(rows.dimensions, label.dimensions, atol=1e-4)
                np.testing.assert_allclose(rows.rotation_y, label.rotation_y, atol=1e-4)
                # alpha is seen from the LiDAR (OpenPCDet's formula), the labels' from the camera, 2 decimals
                np.testing.assert_allclose(rows.alpha, label.alpha, atol=0.01)
            np.testing.assert_array_equal(written.score, 1.0)
            # 2-D boxes are the projected 3-D boxes, clipped to the image
            height, width = info.image_shape
            assert (written.bbox >= 0).all() and (written.bbox[:, 2] <= width).all()
            assert (written.bbox[:, 3] <= height).all()
            checked += len(label)
    assert checked == 41  # every Car, Pedestrian and Cyclist of the 12 frames (grep -c of their label files)


# The devkit's difficulty filters (evaluate_object.cpp: MIN_HEIGHT, MAX_OCCLUSION, MAX_TRUNCATION), cumulative.
MIN_HEIGHT, MAX_OCCLUSION, MAX_TRUNCATION = (40, 25, 25), (0, 1, 2), (0.15, 0.3, 0.5)


@pytest.mark.parametrize("split", ["train", "val"])
def test_the_devkit_figures_follow_from_its_n_over_40_rule(kitti_sample, split):
    """n valid cars found with one score fill n of the 41 recall slots: R40 = (n - 1) / 40, counted here from the
    label files with the devkit's own filters, so the figures above are not only pasted."""
    ids = (kitti_sample / "ImageSets" / f"{split}.txt").read_text().split()
    rows = [line.split() for i in ids
            for line in (kitti_sample / "training" / "label_2" / f"{i}.txt").read_text().splitlines()]
    cars = [(float(r[1]), int(r[2]), float(r[7]) - float(r[5])) for r in rows if r[0] == "Car"]
    counts = [sum(1 for truncated, occluded, height in cars
                  if height >= MIN_HEIGHT[d] and occluded <= MAX_OCCLUSION[d] and truncated <= MAX_TRUNCATION[d])
              for d in range(3)]
    assert [100 * (n - 1) / 40 for n in counts] == pytest.approx(DEVKIT_CAR_R40[split])


@pytest.mark.parametrize("split", ["train", "val"])
def test_ground_truth_boxes_through_the_result_path_give_the_devkit_numbers(kitti_sample, config, split):
    infos = KittiDataset(kitti_sample).infos(split, count_points=False)
    metrics = evaluate_frames(config, infos, [as_predictions(info) for info in infos])
    for metric in ("2d", "bev", "3d"):
        assert metrics["Car"][metric]["R40"] == pytest.approx(DEVKIT_CAR_R40[split], abs=1e-6), metric
    # alpha seen from the LiDAR differs from the labels' by < 0.006 rad: AOS loses (1 - cos) / 2 < 1e-5 of it
    assert metrics["Car"]["aos"]["R40"] == pytest.approx(DEVKIT_CAR_R40[split], abs=1e-3)
    # the DontCare regions reach the evaluator too
    assert sum(int((ground_truth_labels(info).name == "DontCare").sum()) for info in infos) > 0


class GroundTruthDetector(torch.nn.Module):
    """Stands in for a trained detector: answers each frame with its labelled boxes (found by frame id)."""

    def __init__(self, infos):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # inference finds the device through a parameter
        self.answers = {info.frame_id: as_predictions(info) for info in infos}
        self.frames_seen: list[str] = []

    def forward(self, batch):
        self.frames_seen += list(batch["frame_ids"])
        return [{key: torch.from_numpy(np.asarray(value)) for key, value in self.answers[frame].items()}
                for frame in batch["frame_ids"]]


@pytest.fixture
def ground_truth_detector(kitti_sample, monkeypatch):
    import ssal.pipeline.prediction as prediction

    reader = KittiDataset(kitti_sample)
    model = GroundTruthDetector(reader.infos("train", count_points=False) + reader.infos("val", count_points=False))
    monkeypatch.setattr(prediction, "load_detector", lambda config, checkpoint, device="cpu": model)
    return model


def test_predict_and_evaluate_commands_on_kitti(kitti_sample, ground_truth_detector, tmp_path, capsys):
    common = ["--config", str(TINY), "--data-root", str(kitti_sample), "--ckpt", str(tmp_path / "unused.pth")]
    val = (kitti_sample / "ImageSets" / "val.txt").read_text().split()

    assert main(["predict", *common, "--out", str(tmp_path / "pred")]) == 0
    assert sorted(p.stem for p in (tmp_path / "pred" / "results").glob("*.txt")) == sorted(val)
    assert not (tmp_path / "pred" / "metrics.json").exists()

    assert main(["evaluate", *common, "--split", "val", "--out", str(tmp_path / "eval")]) == 0
    assert "Car" in capsys.readouterr().out
    assert sorted(ground_truth_detector.frames_seen) == sorted(val + val)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    for metric in ("2d", "bev", "3d"):
        assert metrics["Car"][metric]["R40"] == pytest.approx(DEVKIT_CAR_R40["val"], abs=1e-6)
    assert metrics["evaluated"]["frames"] == len(val)

    # The result files it wrote, read back by `ssal eval kitti`, give the same table: what the devkit would
    # read from the run is what the run reported.
    assert main(["eval", "kitti", "--gt", str(kitti_sample / "training" / "label_2"),
                 "--pred", str(tmp_path / "eval" / "results"), "--ids", str(kitti_sample / "ImageSets" / "val.txt"),
                 "--json", str(tmp_path / "files.json")]) == 0
    from_files = json.loads((tmp_path / "files.json").read_text())
    assert set(from_files) == set(metrics) == {*CLASSES, "mean", "loose", "evaluated"}
    # (the files hold alpha to 2 decimals: AOS may move by < 1e-4)
    assert flatten(from_files) == pytest.approx(flatten(metrics), abs=1e-3)


def flatten(tree, prefix: str = "") -> dict:
    """``{"a/b/R40/0": value}`` for every number of a nested metrics document."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in flatten(sub, f"{prefix}{key}/").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in flatten(sub, f"{prefix}{i}/").items()}
    return {prefix: tree}


def test_demo_reports_what_its_result_files_hold(tmp_path, monkeypatch, capsys):
    """``ssal demo`` end to end on a 12 + 8 frame world (one epoch per stage), with every trained detector's
    answers replaced by the world's labels: each model's metrics.json must be the evaluation of the world's own
    labels as detections, and its result files those of the validation frames."""
    import ssal.pipeline.prediction as prediction
    from ssal.data.datasets import dataset_from_config

    def ground_truth_of_the_world(config, checkpoint, device="cpu"):
        assert Path(checkpoint).is_file()  # the demo did train and hands over its checkpoint
        return GroundTruthDetector(dataset_from_config(config.data).infos("val", count_points=False))

    monkeypatch.setattr(prediction, "load_detector", ground_truth_of_the_world)
    out = tmp_path / "demo"
    # The CPSP stages have their own tests (test_pipeline_run_cpsp.py); here they would only cost time.
    fast = ["train.epochs=1", "data.train_repeat=1", "active.initial_budget=20", "active.round_budget=15",
            "pipeline.bev_frames=1", "pipeline.pretrain=normal"]
    assert main(["demo", "--out", str(out), "--train-frames", "12", "--val-frames", "8",
                 *[arg for item in fast for arg in ("--set", item)]]) == 0
    assert "report:" in capsys.readouterr().out
    world, val = out / "world", (out / "world" / "ImageSets" / "val.txt").read_text().split()
    evaluations = sorted((out / "s_ssal" / "eval").glob("*/metrics.json"))
    assert {p.parent.name for p in evaluations} == {"pretrain", "final"}
    for path in evaluations:
        assert sorted(p.stem for p in (path.parent / "results").glob("*.txt")) == sorted(val)
    metrics = json.loads(evaluations[0].read_text())
    assert metrics["evaluated"]["frames"] == len(val)

    labels_as_results = tmp_path / "labels_as_results"
    labels_as_results.mkdir()
    for frame in val:
        lines = (world / "training" / "label_2" / f"{frame}.txt").read_text().splitlines()
        (labels_as_results / f"{frame}.txt").write_text(
            "".join(f"{line} 1.0\n" for line in lines if line.split()[0] in CLASSES))
    assert main(["eval", "kitti", "--gt", str(world / "training" / "label_2"), "--pred", str(labels_as_results),
                 "--ids", str(world / "ImageSets" / "val.txt"), "--json", str(tmp_path / "labels.json")]) == 0
    expected = json.loads((tmp_path / "labels.json").read_text())
    assert expected["Car"]["3d"]["R40"][1] > 0  # the world has moderate cars to find
    assert flatten(metrics) == pytest.approx(flatten(expected), abs=1e-3)
