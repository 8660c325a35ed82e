"""Input mistakes are reported as the user made them: a config section that is not a mapping stays an error when an
override points into it, errors name the option the user typed, not its internal ``--set`` form, and a truncated
point file is an error wherever it is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssal.cli import main as ssal
from ssal.config import load_config
from ssal.errors import SsalError

TINY = Path(__file__).resolve().parents[1] / "configs" / "synthetic" / "tiny.yaml"


@pytest.mark.parametrize("section", ["train: 5", "train:", "train: [1, 2]"])
def test_an_override_into_a_section_that_is_not_a_mapping_is_the_same_error_as_without_it(tmp_path, section):
    path = tmp_path / "bad.yaml"
    path.write_text(f"_base_: {TINY}\n{section}\n")
    with pytest.raises(SsalError) as plain:
        load_config(path)
    with pytest.raises(SsalError) as overridden:
        load_config(path, ["train.epochs=1"])
    assert str(overridden.value) == str(plain.value)
    assert overridden.value.where == str(path) and "train: expected a mapping" in str(overridden.value)


def test_an_override_may_still_create_a_section_the_file_does_not_have(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text("data: {format: kitti, root: x, classes: [Car, Pedestrian, Cyclist]}\n")
    assert load_config(path, ["train.epochs=3"]).train.epochs == 3


@pytest.mark.parametrize(("arguments", "typed"), [
    (["--epochs", "0"], "--epochs 0"),
    (["--data-root", "/nonexistent/ssal"], "--data-root /nonexistent/ssal"),
    (["--set", "train.epochs=0"], "--set train.epochs=0"),
])
def test_errors_name_the_option_the_user_typed(tmp_path, capsys, arguments, typed):
    code = ssal(["train", "--config", str(TINY), "--out", str(tmp_path / "run"), *arguments])
    error = capsys.readouterr().err
    assert code == 1 and error.startswith(f"error: {typed}: ") and error.count("\n") == 1


def test_data_info_fails_on_a_truncated_point_file_like_every_reader(kitti_sample, tmp_path, capsys):
    import shutil

    root = tmp_path / "kitti"
    shutil.copytree(kitti_sample, root, ignore=shutil.ignore_patterns("openpcdet_infos"))
    scan = root / "training" / "velodyne" / "000003.bin"
    scan.write_bytes(scan.read_bytes()[:1001])  # cut mid-record
    assert ssal(["data", "info", "--format", "kitti", "--root", str(root)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {scan}: size 1001 bytes is not a multiple of 16") and error.count("\n") == 1


def test_a_full_disk_anywhere_in_a_command_is_one_line(monkeypatch, capsys):
    import errno

    from ssal.active.ledger import Ledger

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/run/pool_outputs/boxes.npy")

    monkeypatch.setattr(Ledger, "load", full)
    assert ssal(["ledger", "show", "ledger.json"]) == 1
    assert capsys.readouterr().err == "error: /data/run/pool_outputs/boxes.npy: No space left on device\n"


def test_other_os_errors_keep_their_traceback(monkeypatch):
    import errno

    from ssal.active.ledger import Ledger

    def broken(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Ledger, "load", broken)
    with pytest.raises(OSError, match="Input/output error"):
        ssal(["ledger", "show", "ledger.json"])
