"""KITTI evaluation on the real kitti_sample frames, against numbers of the official devkit
(``evaluate_object_3d_offline.cpp``, 41 recall points) computed on the very same detections.

(a) the ground truth given back as detections with score 1 shows the devkit's small-sample behaviour: n valid
objects fill n of the 41 recall slots, so R40 = (n - 1) / 40 (train: 6/8/10 cars Easy/Moderate/Hard give
12.5/17.5/22.5). (b) the ground truth jittered a few centimetres and degrees (seeded) keeps 2-D and BEV and
loses a little in 3-D, where the 0.7 IoU bar bites.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssal.data.kitti_label import KittiLabels, read_label_file
from ssal.eval import evaluate_kitti


def split_frames(root: Path, split: str) -> list[KittiLabels]:
    ids = (root / "ImageSets" / f"{split}.txt").read_text().split()
    return [read_label_file(root / "training" / "label_2" / f"{i}.txt", with_score=False) for i in ids]


def as_detections(gt: KittiLabels, rng: np.random.Generator | None = None) -> KittiLabels:
    """The labelled objects (DontCare dropped) as detections; with ``rng``, moved by N(0, 10 cm) per axis,
    resized by N(0, 5 cm), turned by N(0, 3 deg), 2-D boxes moved by N(0, 1 px), scores U(0.5, 1)."""
    objects = gt.select(gt.name != "DontCare")
    n = len(objects)
    if rng is None:
        objects.score = np.ones(n)
        return objects
    turn = np.deg2rad(rng.normal(0, 3.0, n))
    return KittiLabels(
        name=objects.name, truncated=objects.truncated, occluded=objects.occluded, alpha=objects.alpha + turn,
        bbox=objects.bbox + rng.normal(0, 1.0, (n, 4)), dimensions=objects.dimensions + rng.normal(0, 0.05, (n, 3)),
        location=objects.location + rng.normal(0, 0.10, (n, 3)), rotation_y=objects.rotation_y + turn,
        score=rng.uniform(0.5, 1.0, n),
    )


@pytest.mark.parametrize("split, cars", [("train", [12.5, 17.5, 22.5]), ("val", [10.0, 30.0, 35.0])])
def test_ground_truth_as_detections_shows_the_n_over_40_behaviour(kitti_sample, split, cars):
    gt = split_frames(kitti_sample, split)
    result = evaluate_kitti(gt, [as_detections(g) for g in gt])
    for metric in ("2d", "bev", "3d", "aos"):
        assert result["Car"][metric]["R40"] == pytest.approx(cars)
    assert result["Car"]["3d"]["R40"][1] == pytest.approx(17.5 if split == "train" else 30.0)
    # Train has an unoccluded 165 px pedestrian and a 62 px one at occlusion 2: Easy and Moderate hold one
    # valid pedestrian (R40 0), Hard two (R40 1/40); R11 counts slot 0 in all three.
    if split == "train":
        assert result["Pedestrian"]["3d"]["R40"] == pytest.approx([0.0, 0.0, 2.5])
        assert result["Pedestrian"]["3d"]["R11"] == pytest.approx([100 / 11] * 3)


# The official devkit's output on the same jittered detections (seed 0, frames in split order): the result files
# written from ``as_detections(g, np.random.default_rng(0))`` were scored once, outside the suite, by the compiled
# ``evaluate_object_3d_offline`` (41 recall points) when this test was written (commit b951d5a); the build of the
# devkit used then is not recorded. The ground-truth figures above are the devkit's too (issue 16 reports them)
# and follow from its n/40 rule, which test_pipeline_kitti_results derives from the label files independently.
DEVKIT_JITTERED = {
    "train": {
        ("Car", "3d"): {"R11": [9.090909, 18.181818, 18.181818], "R40": [6.666667, 11.875, 17.0]},
        ("Car", "bev"): {"R11": [18.181818, 18.181818, 27.272727], "R40": [12.5, 17.5, 22.5]},
        ("Car", "2d"): {"R11": [18.181818, 18.181818, 27.272727], "R40": [12.5, 17.5, 22.5]},
        ("Car", "aos"): {"R11": [18.170503, 18.168174, 27.25738], "R40": [12.490527, 17.486597, 22.486748]},
        ("Pedestrian", "aos"): {"R11": [9.090811, 9.090811, 9.089806], "R40": [0.0, 0.0, 2.499697]},
        ("Cyclist", "aos"): {"R11": [0.0, 9.085617, 9.085617], "R40": [0.0, 0.0, 0.0]},
    },
    "val": {
        ("Car", "3d"): {"R11": [9.090909, 23.356643, 23.966942], "R40": [2.5, 18.346154, 20.746753]},
        ("Car", "bev"): {"R11": [18.181818, 36.363636, 36.363636], "R40": [10.0, 30.0, 35.0]},
        ("Car", "2d"): {"R11": [18.181818, 36.363636, 36.363636], "R40": [10.0, 30.0, 35.0]},
        ("Car", "aos"): {"R11": [18.172775, 36.345378, 36.346559], "R40": [9.995026, 29.984757, 34.98284]},
        ("Pedestrian", "aos"): {"R11": [9.080741, 9.080741, 9.080741], "R40": [0.0, 0.0, 0.0]},
        ("Cyclist", "3d"): {"R11": [0.0, 0.0, 0.0], "R40": [0.0, 0.0, 0.0]},
    },
}


@pytest.mark.parametrize("split", ["train", "val"])
def test_jittered_ground_truth_matches_the_official_devkit(kitti_sample, split):
    gt = split_frames(kitti_sample, split)
    rng = np.random.default_rng(0)
    result = evaluate_kitti(gt, [as_detections(g, rng) for g in gt])
    for (label, metric), expected in DEVKIT_JITTERED[split].items():
        for setting in ("R11", "R40"):
            assert result[label][metric][setting] == pytest.approx(expected[setting], abs=1e-5), (label, metric)
    # Jitter costs 3-D AP (0.7 IoU) but leaves BEV and 2-D as they were.
    exact = evaluate_kitti(gt, [as_detections(g) for g in gt])
    assert sum(result["Car"]["3d"]["R40"]) < sum(exact["Car"]["3d"]["R40"])
    assert result["Car"]["bev"]["R40"] == pytest.approx(exact["Car"]["bev"]["R40"])
