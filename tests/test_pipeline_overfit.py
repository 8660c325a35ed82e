"""The real-data path end to end: KITTI files -> reader -> loader -> detector -> training -> predictions.

A detector that cannot memorise five real frames is broken somewhere along that path. AP is the wrong yardstick
on 15 cars (the devkit's recall sampling caps it near n/40), so this counts matches at BEV IoU 0.7 directly.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from ssal.config import load_config
from ssal.data.datasets import dataset_from_config
from ssal.geometry import boxes_iou_bev
from ssal.pipeline.prediction import load_detector, predict_frames
from ssal.pipeline.supervised import train_detector

CONFIG = Path(__file__).parent / "configs" / "overfit_kitti_sample.yaml"


@pytest.fixture(scope="module")
def memorised(kitti_sample, tmp_path_factory):
    config = load_config(CONFIG, [f"data.root={kitti_sample}"])
    checkpoint = train_detector(config, tmp_path_factory.mktemp("overfit"))
    reader = dataset_from_config(config.data)
    infos = reader.infos("train")
    return infos, predict_frames(config, load_detector(config, checkpoint), reader, infos)


def test_the_detector_memorises_the_five_real_training_frames(memorised):
    infos, predictions = memorised
    cars = found = kept = correct = 0
    for info, prediction in zip(infos, predictions):
        truth = torch.from_numpy(info.annos.gt_boxes_lidar[info.annos.name == "Car"])
        confident = (prediction["scores"] >= 0.5) & (prediction["labels"] == 1)
        boxes = torch.from_numpy(prediction["boxes"][confident]).float()
        iou = boxes_iou_bev(truth, boxes) if len(truth) and len(boxes) else torch.zeros(len(truth), len(boxes))
        cars += len(truth)
        kept += len(boxes)
        found += int((iou.max(dim=1).values >= 0.7).sum()) if len(boxes) else 0
        correct += int((iou.max(dim=0).values >= 0.7).sum()) if len(truth) else 0
    assert cars == 15
    assert found >= 0.9 * cars, f"found {found} of {cars} cars at BEV IoU >= 0.7"
    assert correct >= 0.9 * kept, f"{correct} of {kept} confident Car predictions match a car"


def test_predictions_carry_what_active_learning_reads(memorised):
    _, predictions = memorised
    for prediction in predictions:
        count = len(prediction["scores"])
        assert prediction["boxes"].shape == (count, 7) and prediction["roi_features"].shape == (count, 256)
        assert np.all(np.diff(prediction["scores"]) <= 0)  # sorted, best first
