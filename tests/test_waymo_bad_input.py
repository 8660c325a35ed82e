"""Broken Waymo data gets one-line errors that name the file (and the sequence, frame or key) and what was
expected, never a traceback from inside numpy or pickle."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from ssal.cli import main
from ssal.data.synthetic.waymo_generate import generate_waymo
from ssal.data.waymo import WaymoDataset
from ssal.errors import SsalError

TAG = "waymo_processed_data_v0_5_0"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("waymo_bad") / "waymo"
    generate_waymo(root, sequences=2, frames_per_sequence=3, seed=11, val_sequences=1, preset="waymo-small")
    return root


@pytest.fixture
def root(pristine, tmp_path) -> Path:
    """A fresh copy to break."""
    return Path(shutil.copytree(pristine, tmp_path / "waymo"))


def _sequences(root: Path, split: str = "train") -> list[str]:
    return [line.removesuffix(".tfrecord") for line in (root / "ImageSets" / f"{split}.txt").read_text().split()]


def _split_infos(root: Path) -> Path:
    return root / f"{TAG}_infos_train.pkl"


def test_a_sequence_without_its_folder(root):
    missing = _sequences(root)[1]
    shutil.rmtree(root / TAG / missing)
    with pytest.raises(SsalError, match=f"sequence folder {TAG}/{missing}/ of frame {missing}_000") as error:
        WaymoDataset(root).infos("train")
    assert str(error.value).startswith(str(root / TAG / missing))
    _split_infos(root).unlink()  # reading the per-sequence pickles instead
    with pytest.raises(SsalError, match=f"sequence {missing} has no folder") as error:
        WaymoDataset(root).infos("train")
    assert str(error.value).startswith(str(root / "ImageSets" / "train.txt"))


def test_a_frame_file_listed_in_the_infos_that_is_not_there(root):
    sequence = _sequences(root)[0]
    (root / TAG / sequence / "0002.npy").unlink()
    with pytest.raises(SsalError, match=f"frame {sequence}_002 \\(split 'train'\\) has no point file"):
        WaymoDataset(root).split_ids("train")
    assert len(WaymoDataset(root).split_ids("val")) == 3  # the other split is fine


@pytest.mark.parametrize("content, message", [
    (np.zeros((10, 6), np.float64), r"expected a float32 array \(N, 6\) .* got float64 \(10, 6\)"),
    (np.zeros((10, 4), np.float32), r"got float32 \(10, 4\)"),
    (np.zeros((0, 6), np.float32), "holds no points"),
    (np.array([[0, 0, np.nan, 0, 0, -1]], np.float32), "1 of 1 points hold NaN"),
    (b"not numpy at all", "not a readable .npy file"),
])
def test_a_point_file_of_the_wrong_kind(root, content, message):
    dataset = WaymoDataset(root)
    info = dataset.infos("train")[1]
    path = root / info.points_path
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.save(path, content)
    with pytest.raises(SsalError, match=message) as error:
        dataset.load_points(info)
    assert str(error.value).startswith(str(path))


def test_infos_from_another_version_say_which_keys_are_missing(root):
    frames = pickle.loads(_split_infos(root).read_bytes())
    del frames[4]["annos"]["num_points_in_gt"]
    del frames[4]["annos"]["gt_boxes_lidar"]
    _split_infos(root).write_bytes(pickle.dumps(frames))
    with pytest.raises(SsalError, match=r"frame record 4 \(.*_001\) lacks annos.num_points_in_gt, "
                                        r"annos.gt_boxes_lidar: infos from another version") as error:
        WaymoDataset(root).infos("train")
    assert str(error.value).startswith(str(_split_infos(root)))


def test_kitti_infos_given_as_waymo_infos(root, tmp_path):
    kitti = tmp_path / "kitti_infos_train.pkl"
    kitti.write_bytes(pickle.dumps([{"point_cloud": {"num_features": 4, "lidar_idx": "000000"}, "annos": {}}]))
    with pytest.raises(SsalError, match="lacks point_cloud.lidar_sequence, point_cloud.sample_idx, frame_id"):
        WaymoDataset(root, info_files={"train": str(kitti)}).infos("train")
    not_a_pickle = tmp_path / "broken.pkl"
    not_a_pickle.write_bytes(b"\x80\x04garbage")
    with pytest.raises(SsalError, match="not a readable info pickle"):
        WaymoDataset(root, info_files={"train": str(not_a_pickle)}).infos("train")


def test_a_split_file_naming_sequences_the_infos_do_not_hold(root):
    split = root / "ImageSets" / "train.txt"
    split.write_text(split.read_text() + "segment-404_with_camera_labels.tfrecord\n")
    with pytest.raises(SsalError, match=rf"1 sequence\(s\) of the split are not in {TAG}_infos_train.pkl: "
                                        "segment-404_with_camera_labels") as error:
        WaymoDataset(root).infos("train")
    assert str(error.value).startswith(str(split))


def test_a_sequence_listed_twice_and_a_missing_split_file(root):
    split = root / "ImageSets" / "train.txt"
    first = split.read_text().splitlines()[0]
    split.write_text(split.read_text() + first + "\n")
    with pytest.raises(SsalError, match="line 3: sequence .* is listed twice \\(first on line 1\\)"):
        WaymoDataset(root).infos("train")
    with pytest.raises(SsalError, match=r"split file not found \(splits present: train, val\)"):
        WaymoDataset(root).infos("test")
    with pytest.raises(SsalError, match="dataset root is not a folder"):
        WaymoDataset(root / "nowhere")


def test_the_cli_prints_one_line(root, capsys):
    sequence = _sequences(root)[0]
    np.save(root / TAG / sequence / "0000.npy", np.zeros((3, 5), np.float32))
    assert main(["data", "info", "--format", "waymo", "--root", str(root)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "got float32 (3, 5)" in err
