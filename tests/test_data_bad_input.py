"""Bad data gives one clear error naming the file, never a traceback from inside numpy."""

import shutil

import numpy as np
import pytest

from ssal.cli import main
from ssal.data.kitti import KittiDataset
from ssal.data.kitti_calib import Calibration
from ssal.data.kitti_label import read_label_file
from ssal.data.point_file import read_points
from ssal.errors import SsalError, SsalWarning


@pytest.fixture()
def copy(tmp_path, kitti_sample):
    """A writable copy of three real frames (000000 000003 000007) in the KITTI layout."""
    root = tmp_path / "kitti"
    ids = ["000000", "000003", "000007"]
    for folder, ext in (("velodyne", "bin"), ("label_2", "txt"), ("calib", "txt"), ("image_2", "png")):
        (root / "training" / folder).mkdir(parents=True)
        for frame_id in ids:
            shutil.copy(kitti_sample / "training" / folder / f"{frame_id}.{ext}",
                        root / "training" / folder / f"{frame_id}.{ext}")
    (root / "ImageSets").mkdir()
    (root / "ImageSets" / "train.txt").write_text("\n".join(ids) + "\n")
    return root


def test_point_file_size_not_a_multiple_of_16_bytes(copy):
    path = copy / "training/velodyne/000000.bin"
    path.write_bytes(path.read_bytes()[:-6])
    with pytest.raises(SsalError, match=r"000000\.bin: size .* is not a multiple of 16"):
        read_points(path)


def test_nan_and_inf_points(copy):
    path = copy / "training/velodyne/000003.bin"
    points = np.fromfile(path, dtype=np.float32).reshape(-1, 4)
    points[10, 1] = np.nan
    points[20, 0] = np.inf
    points.tofile(path)
    with pytest.raises(SsalError, match=r"000003\.bin: 2 of .* points hold NaN or infinite values"):
        KittiDataset(copy).read_points("000003")


def test_empty_point_file(copy):
    (copy / "training/velodyne/000007.bin").write_bytes(b"")
    with pytest.raises(SsalError, match=r"000007\.bin: point file is empty"):
        KittiDataset(copy).read_info("000007")


def test_label_line_with_wrong_column_count(copy):
    path = copy / "training/label_2/000003.txt"
    path.write_text(path.read_text() + "Car 0.00 0 1.0 10 10 50 50 1.5 1.6\n")
    with pytest.raises(SsalError, match=r"000003\.txt: line \d+ has 10 columns, expected 15 \(type"):
        KittiDataset(copy).read_info("000003")


def test_unknown_class_is_kept_with_a_warning(copy):
    path = copy / "training/label_2/000000.txt"
    path.write_text(path.read_text().replace("Pedestrian", "Skateboarder"))
    with pytest.warns(SsalWarning, match=r"000000\.txt: unknown class name\(s\) Skateboarder"):
        info = KittiDataset(copy).read_info("000000")
    assert list(info.annos.name) == ["Skateboarder"]


def test_missing_calib_for_a_listed_frame(copy):
    (copy / "training/calib/000003.txt").unlink()
    with pytest.raises(SsalError, match=r"calib/000003\.txt: calibration file not found"):
        KittiDataset(copy).infos("train")


def test_missing_image_for_a_listed_frame(copy):
    (copy / "training/image_2/000007.png").unlink()
    with pytest.raises(SsalError, match=r"image_2/000007\.png: image file not found"):
        KittiDataset(copy).infos("train")


def test_imagesets_id_without_files(copy):
    (copy / "ImageSets/train.txt").write_text("000000\n000003\n000099\n")
    with pytest.raises(SsalError, match=r"train\.txt: line 3: frame 000099 has no point file"):
        KittiDataset(copy).split_ids("train")


def test_duplicate_ids(copy):
    (copy / "ImageSets/train.txt").write_text("000000\n000003\n000000\n")
    with pytest.raises(SsalError, match=r"train\.txt: line 3: frame id 000000 is listed twice \(first on line 1\)"):
        KittiDataset(copy).split_ids("train")


def test_calibration_missing_a_matrix(tmp_path):
    path = tmp_path / "calib.txt"
    path.write_text("P2: 1 0 0 0 0 1 0 0 0 0 1 0\nR0_rect: 1 0 0 0 1 0 0 0 1\n")
    with pytest.raises(SsalError, match="calib.txt: missing Tr_velo_to_cam"):
        Calibration.from_file(path)


def test_result_file_with_nan_score(tmp_path):
    path = tmp_path / "000000.txt"
    path.write_text("Car 0 0 0.1 10 10 50 50 1.5 1.6 3.9 1 1.7 20 0.1 nan\n")
    with pytest.raises(SsalError, match=r"000000\.txt: line 1: NaN or infinite value"):
        read_label_file(path, with_score=True)


def test_cli_prints_one_line_and_exits_non_zero(copy, capsys):
    (copy / "ImageSets/train.txt").write_text("000000\n000000\n")
    code = main(["data", "info", "--format", "kitti", "--root", str(copy)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == [f"error: {copy / 'ImageSets/train.txt'}: line 2: frame id 000000 is listed twice (first on line 1)"]
