"""Bad data gives one clear error naming the file, never a traceback from inside numpy."""

import pickle
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


# ------------------------------------------------------------------------------------ KITTI reader errors
def calib_text(copy, frame_id="000000") -> str:
    return (copy / "training" / "calib" / f"{frame_id}.txt").read_text()


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("P2: ", "P2: 1.0 ", 1), r"P2 has 13 values, expected 12"),
    (lambda t: _replace_first_value(t, "R0_rect", "nan"), r"R0_rect holds NaN or infinite values"),
    (lambda t: _replace_first_value(t, "Tr_velo_to_cam", "inf"), r"Tr_velo_to_cam holds NaN or infinite values"),
    (lambda t: _replace_first_value(t, "P2", "7.2e+02x"), r"line 3 \(P2\) holds a value that is not a number"),
    (lambda t: t.replace("R0_rect:", "R0_rect", 1), r"line 5 is not 'KEY: values'"),
    (lambda t: "\n".join(line for line in t.splitlines() if not line.startswith("P2")), r"missing P2"),
], ids=["count", "nan", "inf", "not a number", "no colon", "missing"])
def test_bad_calibration_lines(copy, edit, message):
    path = copy / "training" / "calib" / "000003.txt"
    path.write_text(edit(calib_text(copy, "000003")))
    with pytest.raises(SsalError, match=rf"calib/000003\.txt: {message}"):
        KittiDataset(copy).read_info("000003")


def _replace_first_value(text: str, key: str, value: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(key + ":"):
            fields = line.split()
            fields[1] = value
            lines[i] = " ".join(fields)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("last_line, message", [
    ("0.0 -1.0 0.0", "the last line must hold four finite numbers"),
    ("0.0 -1.0 zero 1.65", "the last line must hold four numbers 'a b c d'"),
    ("0.0 0.0 0.0 1.65", "the last line must hold four finite numbers 'a b c d' with a non-zero normal"),
    ("nan -1.0 0.0 1.65", "the last line must hold four finite numbers"),
])
def test_bad_plane_files(copy, last_line, message):
    planes = copy / "training" / "planes"
    planes.mkdir()
    (planes / "000007.txt").write_text(f"# Plane\nWidth 4\nHeight 1\n{last_line}\n")
    with pytest.raises(SsalError, match=rf"planes/000007\.txt: {message}"):
        KittiDataset(copy).read_info("000007")


def test_a_good_plane_file_is_read_with_its_normal_up(copy):
    planes = copy / "training" / "planes"
    planes.mkdir()
    (planes / "000007.txt").write_text("# Plane\nWidth 4\nHeight 1\n0.0 2.0 0.0 -3.3\n")  # normal pointing down
    np.testing.assert_allclose(KittiDataset(copy).read_info("000007").plane, [0.0, -1.0, 0.0, 1.65])


def test_info_pickles_that_cannot_be_used(copy):
    from ssal.data.infos import save_infos

    reader = KittiDataset(copy)
    good = reader.infos("train", count_points=False, use_info_file=False)
    path = copy / "infos.pkl"

    def refused(message):
        with pytest.raises(SsalError, match=rf"infos\.pkl: {message}"):
            KittiDataset(copy, info_files={"train": str(path)}).infos("train")

    refused("info file not found")
    save_infos(path, good, "kitti", "train")
    path.write_bytes(path.read_bytes()[:200])  # cut short
    refused(r"not a readable info pickle \(")
    path.write_bytes(b"not a pickle at all")
    refused(r"not a readable info pickle \(")
    path.write_bytes(pickle.dumps({"format": "ssal-infos", "version": 99, "frames": []}))
    refused("info format version 99 is not supported .expected 1.; regenerate with `ssal data create-infos`")
    path.write_bytes(pickle.dumps([1, 2, 3]))
    refused("neither an ssal info file nor OpenPCDet kitti infos")
    save_infos(path, good, "kitti", "train")
    payload = pickle.loads(path.read_bytes())
    del payload["frames"][1]["calib"]
    path.write_bytes(pickle.dumps(payload))
    refused(r"frame record '000003' is malformed \('calib'\)")
    openpcdet = [{"point_cloud": {"lidar_idx": "000000"}, "image": {}}]
    path.write_bytes(pickle.dumps(openpcdet))
    refused(r"OpenPCDet info for frame '000000' lacks")


def test_an_image_that_is_not_a_png(copy):
    (copy / "training" / "image_2" / "000003.png").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(40))
    with pytest.raises(SsalError, match=r"image_2/000003\.png: not a PNG image"):
        KittiDataset(copy).infos("train")


def test_a_missing_label_file(copy):
    (copy / "training" / "label_2" / "000007.txt").unlink()
    with pytest.raises(SsalError, match=r"label_2/000007\.txt: label file not found"):
        KittiDataset(copy).infos("train")


def test_a_root_that_is_not_a_folder(copy, tmp_path):
    with pytest.raises(SsalError, match=r"nowhere: dataset root is not a folder"):
        KittiDataset(tmp_path / "nowhere")
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SsalError, match=r"a_file: dataset root is not a folder"):
        KittiDataset(tmp_path / "a_file")


def test_a_missing_split_file_names_the_splits_there_are(copy):
    with pytest.raises(SsalError, match=r"ImageSets/val\.txt: split file not found \(splits present: train\)"):
        KittiDataset(copy).infos("val")
