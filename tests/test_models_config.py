"""The model configuration: presets load and agree with the brief's grids; mistakes are one-line errors that name the
file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssal.errors import SsalError
from ssal.models import ModelConfig, load_model_config

MODELS = Path(__file__).resolve().parents[1] / "configs" / "_models"


@pytest.mark.parametrize("name, grid, classes", [
    ("tiny", (128, 128), ["Car", "Pedestrian", "Cyclist"]),
    ("cpu", (216, 248), ["Car", "Pedestrian", "Cyclist"]),
    ("kitti", (432, 496), ["Car", "Pedestrian", "Cyclist"]),
    ("waymo", (470, 470), ["Vehicle", "Pedestrian", "Cyclist"]),
])
def test_presets_load_with_their_grids(name, grid, classes):
    cfg = load_model_config(MODELS / f"{name}.yaml")
    assert cfg.name == "pillar_rcnn"
    assert cfg.grid_size == grid
    assert cfg.class_names == classes
    assert [a.class_name for a in cfg.anchor_head.anchors] == classes
    assert cfg.roi_head.shared_fc[-1] == 256  # S-SSAL's diversity works on 256-d RoI features


def test_kitti_preset_uses_pv_rcnn_constants():
    cfg = load_model_config(MODELS / "kitti.yaml")
    car, ped, cyc = cfg.anchor_head.anchors
    assert (car.size, car.bottom_height, car.matched_threshold, car.unmatched_threshold) == (
        [3.9, 1.6, 1.56], -1.78, 0.6, 0.45)
    assert (ped.size, ped.matched_threshold, cyc.size, cyc.unmatched_threshold) == (
        [0.8, 0.6, 1.73], 0.5, [1.76, 0.6, 1.73], 0.35)
    assert cfg.point_cloud_range == [0.0, -39.68, -3.0, 69.12, 39.68, 1.0]
    assert (cfg.anchor_head.box_weight, cfg.anchor_head.dir_weight, cfg.anchor_head.dir_offset) == (2.0, 0.2, 0.78539)
    assert (cfg.roi_head.rois_per_frame, cfg.roi_head.fg_ratio, cfg.roi_head.reg_fg_threshold) == (128, 0.5, 0.55)
    assert (cfg.proposals.test_pre_nms, cfg.proposals.test_post_nms, cfg.proposals.test_nms_iou) == (1024, 100, 0.7)
    assert (cfg.post_processing.score_threshold, cfg.post_processing.nms_iou) == (0.1, 0.1)
    assert load_model_config(MODELS / "waymo.yaml").post_processing.nms_iou == 0.7


def test_overrides_reach_the_model_block():
    cfg = load_model_config(MODELS / "tiny.yaml", ["model.roi_head.dropout=0.5"])
    assert cfg.roi_head.dropout == 0.5


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("body, key, words", [
    ("voxel_size: [0.3, 0.32, 4.0]", "model.voxel_size", "not a multiple"),
    ("voxel_size: [0.16, 0.16]", "model.voxel_size", "three positive"),
    ("point_cloud_range: [0, 0, 0, -1, 1, 1]", "model.point_cloud_range", "x0 < x1"),
    ("class_names: [Car, Pedestrian]", "model.anchor_head.anchors[2].class_name", "'Cyclist' is not in"),
    ("point_cloud_range: [0.0, -39.68, -3.0, 69.28, 39.68, 1.0]", "model.backbone", "not divisible"),  # 433 pillars
    ("backbone: {upsample_strides: [1, 2, 2]}", "model.backbone.upsample_strides", "one resolution"),
    ("roi_head: {rois_per_frame: 0}", "model.roi_head.rois_per_frame", "positive integer"),
    ("roi_head: {fg_ratio: 1.5}", "model.roi_head.fg_ratio", "[0, 1]"),
    ("roi_head: {point_grid: [8, 4]}", "model.roi_head.point_grid", "[nx, ny, nz]"),
    ("roi_head: {point_grid_margin: -0.1}", "model.roi_head.point_grid_margin", ">= 0 metres"),
    ("roi_head: {point_grid_shared: true}", "model.roi_head.point_grid_shared", "needs a point_grid"),
])
def test_inconsistent_settings_name_the_key(tmp_path, body, key, words):
    path = _write(tmp_path, "model:\n  " + body + "\n")
    with pytest.raises(SsalError) as info:
        load_model_config(path)
    message = str(info.value)
    assert str(path) in message and key in message and words in message
    assert "\n" not in message


def test_bad_anchor_size_is_reported(tmp_path):
    path = _write(tmp_path, "model:\n  anchor_head:\n    anchors:\n"
                            "      - {class_name: Car, size: [3.9, 0, 1.5]}\n"
                            "      - {class_name: Pedestrian}\n      - {class_name: Cyclist}\n")
    with pytest.raises(SsalError, match=r"anchors\[0\]\.size: expected three positive sizes"):
        load_model_config(path)


def test_unknown_key_and_wrong_type_are_errors(tmp_path):
    with pytest.raises(SsalError, match=r"unknown key 'model\.vfe\.num_filter'.*did you mean"):
        load_model_config(_write(tmp_path, "model:\n  vfe: {num_filter: [64]}\n"))
    with pytest.raises(SsalError, match=r"model\.roi_head\.grid_size: expected an integer"):
        load_model_config(_write(tmp_path, "model:\n  roi_head: {grid_size: 6.5}\n"))


def test_defaults_are_the_kitti_grid_and_valid():
    cfg = ModelConfig()
    cfg.validate()
    assert cfg.grid_size == (432, 496) and cfg.feature_stride == 2
