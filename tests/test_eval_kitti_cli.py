"""``ssal eval kitti`` on folders of label and result files: the table, the JSON, missing result files, frame
id lists, and one-line errors for bad input."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from ssal.cli import main

CAR = "Car 0.00 0 -1.58 587.01 150.00 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59"
VAN = "Van 0.00 0 -1.58 700.00 173.33 760.00 230.00 2.10 1.90 5.00 4.00 1.71 30.00 -1.50"


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Two frames of ground truth, both with a result file."""
    gt, pred = tmp_path / "label_2", tmp_path / "results"
    gt.mkdir()
    pred.mkdir()
    for frame in ("000001", "000002"):
        (gt / f"{frame}.txt").write_text(f"{CAR}\n{VAN}\nDontCare -1 -1 -10 0 0 10 10 -1 -1 -1 -1000 -1000 -1000 -10\n")
        (pred / f"{frame}.txt").write_text(f"{CAR} 0.9\n")
    return gt, pred


def run(*args: str) -> int:
    return main(["eval", "kitti", *map(str, args)])


def test_prints_the_table_and_writes_json(folders, tmp_path, capsys):
    gt, pred = folders
    assert run("--gt", gt, "--pred", pred, "--json", tmp_path / "out" / "kitti.json") == 0
    out = capsys.readouterr().out
    assert "Car" in out and "R40" in out and "2 frames evaluated" in out
    saved = json.loads((tmp_path / "out" / "kitti.json").read_text())
    # metrics.json's shape (ssal.eval.metrics_file): the table at the top level, what was evaluated beside it
    assert saved["evaluated"] == {"frames": 2, "frames_without_prediction": [], "unused_prediction_files": []}
    # Two perfect cars: both fill slots 0 and 1 -> R40 = 1/40, R11 = 1/11.
    assert saved["Car"]["3d"]["R40"] == pytest.approx([2.5, 2.5, 2.5])
    assert saved["Car"]["3d"]["R11"] == pytest.approx([100 / 11] * 3)
    assert "loose" in saved


def test_a_missing_result_file_means_no_detections_and_is_reported(folders, tmp_path, capsys):
    gt, pred = folders
    (pred / "000002.txt").unlink()
    assert run("--gt", gt, "--pred", pred, "--json", tmp_path / "kitti.json") == 0
    out = capsys.readouterr().out
    assert "1 had no prediction file and count as no detections (000002)" in out
    assert json.loads((tmp_path / "kitti.json").read_text())["evaluated"]["frames_without_prediction"] == ["000002"]


def test_ids_file_selects_frames(folders, tmp_path, capsys):
    gt, pred = folders
    ids = tmp_path / "val.txt"
    ids.write_text("000002\n\n")
    assert run("--gt", gt, "--pred", pred, "--ids", ids, "--classes", "Car") == 0
    out = capsys.readouterr().out
    assert "1 frames evaluated" in out and "Pedestrian" not in out
    assert "1 prediction files have no frame among them" in out


def test_angles_beyond_pi_give_the_same_ap_and_aos_as_wrapped_ones(kitti_sample, tmp_path):
    """Result files of some tools hold rotation_y and alpha outside [-pi, pi): the same detections, turned by
    +-2 pi, must score exactly as before (AOS included, which a wrong wrap by pi would halve)."""
    ids = kitti_sample / "ImageSets" / "val.txt"
    tables = []
    for turn in (0.0, 2 * math.pi):
        pred = tmp_path / f"turned_{turn:.0f}"
        pred.mkdir()
        for frame in ids.read_text().split():
            lines = (kitti_sample / "training" / "label_2" / f"{frame}.txt").read_text().splitlines()
            rows = [line.split() for line in lines if not line.startswith("DontCare")]
            for k, row in enumerate(rows):
                sign = 1 if k % 2 else -1
                row[3] = f"{float(row[3]) + sign * turn:.6f}"  # alpha
                row[14] = f"{float(row[14]) + sign * turn:.6f}"  # rotation_y
            (pred / f"{frame}.txt").write_text("".join(" ".join(row) + " 0.9\n" for row in rows))
        assert run("--gt", kitti_sample / "training" / "label_2", "--pred", pred, "--ids", ids,
                   "--json", tmp_path / f"{turn:.0f}.json") == 0
        tables.append(json.loads((tmp_path / f"{turn:.0f}.json").read_text()))
    straight, turned = tables
    assert straight["Car"]["aos"]["R40"] == pytest.approx([10.0, 30.0, 35.0])  # the devkit's figures, see above
    for label in ("Car", "Pedestrian", "Cyclist", "mean"):
        for metric in ("3d", "bev", "2d", "aos"):
            for setting in ("R11", "R40"):
                assert turned[label][metric][setting] == pytest.approx(straight[label][metric][setting], abs=1e-6)


@pytest.mark.parametrize("line, message", [
    (CAR, "line 1 has 15 columns, expected 16"),
    (CAR.replace("587.01", "left") + " 0.9", "line 1: 'left' is not a number"),
    (CAR.replace("1.67", "-1.67") + " 0.9", "line 1: negative box size"),
    (CAR + " nan", "line 1: NaN or infinite value"),
])
def test_bad_result_lines_are_one_line_errors_naming_file_and_line(folders, capsys, line, message):
    gt, pred = folders
    bad = pred / "000002.txt"
    bad.write_text(line + "\n")
    assert run("--gt", gt, "--pred", pred) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {bad}: ") and message in err and "\n" not in err


def test_ids_without_ground_truth_or_repeated_are_errors_naming_the_line(folders, tmp_path, capsys):
    gt, pred = folders
    ids = tmp_path / "ids.txt"
    ids.write_text("000001\n000007\n")
    assert run("--gt", gt, "--pred", pred, "--ids", ids) == 1
    assert f"error: {ids}: line 2: no ground truth file" in capsys.readouterr().err
    ids.write_text("000001\n000001\n")
    assert run("--gt", gt, "--pred", pred, "--ids", ids) == 1
    assert "line 2: frame id 000001 is listed twice (first on line 1)" in capsys.readouterr().err


def test_missing_folders_and_unknown_classes_are_errors(folders, tmp_path, capsys):
    gt, pred = folders
    assert run("--gt", tmp_path / "nowhere", "--pred", pred) == 1
    assert "ground truth folder not found" in capsys.readouterr().err
    assert run("--gt", gt, "--pred", pred, "--classes", "Car,Bus") == 1
    assert "cannot evaluate Bus" in capsys.readouterr().err


def test_on_the_kitti_sample_val_split(kitti_sample, tmp_path, capsys):
    pred = tmp_path / "results"
    pred.mkdir()
    ids = (kitti_sample / "ImageSets" / "val.txt").read_text().split()
    for frame in ids:
        lines = (kitti_sample / "training" / "label_2" / f"{frame}.txt").read_text().splitlines()
        (pred / f"{frame}.txt").write_text("".join(f"{ln} 1.0\n" for ln in lines if not ln.startswith("DontCare")))
    assert run("--gt", kitti_sample / "training" / "label_2", "--pred", pred,
               "--ids", kitti_sample / "ImageSets" / "val.txt", "--json", tmp_path / "val.json") == 0
    result = json.loads((tmp_path / "val.json").read_text())
    assert result["Car"]["3d"]["R40"] == pytest.approx([10.0, 30.0, 35.0])
    shutil.rmtree(pred)
