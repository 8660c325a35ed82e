"""``ssal train`` on a folder that is in use, that holds a finished run, or with a resume it must refuse: one line,
and the folder exactly as it was."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ssal.cli import main as ssal
from ssal.run_lock import RunLock

TINY = Path(__file__).resolve().parents[1] / "configs" / "synthetic" / "tiny.yaml"


def train(root, out, *extra):
    return ssal(["train", "--config", str(TINY), "--data-root", str(root), "--out", str(out), "--epochs", "1",
                 "--set", "train.batch_size=2", "--set", "train.workers=0", *extra])


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(kitti_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    assert train(kitti_sample, out) == 0
    return out


def test_a_finished_run_is_not_trained_over_without_resume_or_overwrite(kitti_sample, finished, capsys):
    before = snapshot(finished)
    capsys.readouterr()
    assert train(kitti_sample, finished) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {finished}: already holds a training run (checkpoints up to epoch 1)")
    assert "--resume" in error and "--overwrite" in error and error.count("\n") == 1
    assert snapshot(finished) == before


@pytest.mark.parametrize(("extra", "message"), [
    (["--set", "model.proposals.train_pre_nms=100"], "checkpoint holds model 'pillar_rcnn' with config fingerprint"),
    (["--set", "train.lr=0.5"], "train.lr"),
])
def test_a_refused_resume_leaves_the_run_untouched(kitti_sample, finished, capsys, extra, message):
    before = snapshot(finished)
    capsys.readouterr()
    assert train(kitti_sample, finished, "--resume", *extra) == 1
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert snapshot(finished) == before  # config.yaml included


def test_a_folder_in_use_is_refused_with_the_holder(kitti_sample, tmp_path, capsys):
    with RunLock(tmp_path / "run", "ssal train"):
        assert train(kitti_sample, tmp_path / "run") == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {tmp_path / 'run'}: in use by ssal train (PID ") and error.count("\n") == 1
    assert not (tmp_path / "run" / "ckpt").exists()


def test_overwrite_starts_the_run_again(kitti_sample, tmp_path):
    assert train(kitti_sample, tmp_path / "run") == 0
    (tmp_path / "run" / "ckpt" / "checkpoint_epoch_7.pth").write_bytes(b"old run")
    assert train(kitti_sample, tmp_path / "run", "--overwrite") == 0
    assert sorted(p.name for p in (tmp_path / "run" / "ckpt").iterdir()) == ["checkpoint_epoch_1.pth", "latest.pth"]
    assert not (tmp_path / "run" / "ssal.lock").exists()


def test_a_two_process_torchrun_training_exits_cleanly_and_releases_its_lock(kitti_sample, tmp_path):
    # One run of benchmarks/torchrun_stress.py: a training that succeeds must exit 0 on both ranks.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={port}", "-m", "ssal", "train", "--config", str(TINY), "--data-root",
               str(kitti_sample), "--out", str(tmp_path / "run"), "--epochs", "1", "--set", "train.batch_size=1",
               "--set", "train.workers=0", "--set", "train.log_interval=1"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained pillar_rcnn") == 1  # rank 0 reports
    assert "terminate called" not in done.stderr
    assert (tmp_path / "run" / "ckpt" / "latest.pth").is_file()
    assert not (tmp_path / "run" / "ssal.lock").exists()


def test_a_full_disk_is_one_line_and_the_run_resumes_once_there_is_room(kitti_sample, tmp_path, capsys, monkeypatch):
    import errno

    import ssal.atomic

    real_fsync = ssal.atomic.os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ssal.atomic.os, "fsync", full)
    assert train(kitti_sample, tmp_path / "run") == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("error: ") and "No space left on device" in error
    monkeypatch.setattr(ssal.atomic.os, "fsync", real_fsync)
    assert train(kitti_sample, tmp_path / "run", "--resume") == 0
    assert not list((tmp_path / "run").rglob("*.tmp"))


def test_predictions_keep_roi_features_in_float16(kitti_sample, finished, tmp_path):
    import pickle

    assert ssal(["predict", "--config", str(TINY), "--data-root", str(kitti_sample), "--ckpt",
                 str(finished / "ckpt" / "latest.pth"), "--split", "train", "--out", str(tmp_path)]) == 0
    payload = pickle.loads((tmp_path / "predictions.pkl").read_bytes())
    features = [frame["roi_features"] for frame in payload["frames"]]
    assert len(features) == 5 and all(f.dtype == "float16" and f.shape[1:] == (256,) for f in features)
    assert all(frame["boxes"].dtype == "float32" for frame in payload["frames"])
