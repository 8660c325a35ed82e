"""``ssal cpsp`` end to end on the real KITTI sample with the tiny detector: its files, resume after a kill, bad
input, labels that never reach the database, and a two-process torchrun run that trains both ranks on the same
refreshed database."""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from ssal.active.ledger import Ledger
from ssal.cli import main as ssal
from ssal.config import load_config
from ssal.engine.distributed import DistContext
from ssal.ssl.cpsp import build_database, prepare_inputs
from ssal.ssl.database import DatabasePart

TINY = Path(__file__).resolve().parents[1] / "configs" / "synthetic" / "tiny.yaml"
HELPER = Path(__file__).parent / "helpers" / "ssl_dist.py"


@pytest.fixture(scope="module")
def setup(kitti_sample, tmp_path_factory):
    """A run config on the sample, a ledger of 2 labelled frames (3 unlabelled) and a 1-epoch pretrain."""
    tmp = tmp_path_factory.mktemp("cpsp")
    config = tmp / "run.yaml"
    config.write_text(textwrap.dedent(f"""
        _base_: {TINY}
        data:
          root: {kitti_sample}
        train:
          epochs: 2
          batch_size: 2
          workers: 0
          log_interval: 1
        cpsp:
          refresh_interval: 1
    """))
    assert ssal(["ledger", "init", "--config", str(config), "--budget", "2", "--unit", "frames", "--seed", "1",
                 "--out", str(tmp / "ledger.json")]) == 0
    assert ssal(["train", "--config", str(config), "--ledger", str(tmp / "ledger.json"), "--out", str(tmp / "pre"),
                 "--epochs", "1"]) == 0
    return tmp, config, tmp / "ledger.json", tmp / "pre" / "ckpt" / "latest.pth"


def cpsp(setup, out, *extra):
    tmp, config, ledger, ckpt = setup
    return ssal(["cpsp", "--config", str(config), "--ledger", str(ledger), "--init-ckpt", str(ckpt),
                 "--out", str(out), *extra])


@pytest.fixture(scope="module")
def finished(setup):
    out = setup[0] / "run"
    assert cpsp(setup, out) == 0
    return out


def test_cpsp_writes_database_checkpoints_metrics_thresholds_and_quality(finished):
    for name in ("ckpt/latest.pth", "metrics.jsonl", "config.yaml", "thresholds.json", "thresholds_round1.json",
                 "database/labelled/manifest.json", "database/pool_0/manifest.json", "database/pool_1/manifest.json",
                 "pseudo_label_quality.json"):
        assert (finished / name).is_file(), name
    epochs = [line for line in (finished / "metrics.jsonl").read_text().splitlines() if '"kind": "epoch"' in line]
    assert len(epochs) == 2
    labelled = DatabasePart(finished / "database" / "labelled").manifest
    assert labelled["frames"] == 2 and labelled["objects"]["gt"]
    quality = json.loads((finished / "pseudo_label_quality.json").read_text())
    assert [r["round"] for r in quality["rounds"]] == [0, 1] and quality["frames"] == 3
    car = quality["rounds"][0]["classes"]["Car"]
    assert car["ground_truth"] == 7 and set(car) >= {"precision", "recall", "back_true_negative_rate"}
    assert torch.load(finished / "ckpt" / "latest.pth", weights_only=False)["epoch"] == 2


def test_a_run_killed_in_a_refresh_resumes_to_the_same_weights(setup, finished):
    killed = setup[0] / "killed"
    shutil.copytree(finished, killed)
    database = killed / "database"
    shutil.rmtree(database / "pool_1")
    shutil.rmtree(database / "predictions_1")
    (database / "pool_1.partial").mkdir()  # the refresh was writing when the run died
    (database / "pool_1.partial" / "points.bin").write_bytes(b"\0" * 10)
    ckpt = killed / "ckpt"
    for stale in ("latest.pth", "checkpoint_epoch_2.pth"):
        (ckpt / stale).unlink()
    shutil.copy(ckpt / "checkpoint_epoch_1.pth", ckpt / "latest.pth")
    pool_0 = (database / "pool_0" / "manifest.json").stat().st_mtime_ns
    assert cpsp(setup, killed, "--resume") == 0
    assert (database / "pool_0" / "manifest.json").stat().st_mtime_ns == pool_0  # reused, not rebuilt
    assert (database / "pool_1" / "manifest.json").is_file() and not (database / "pool_1.partial").exists()
    a = torch.load(finished / "ckpt" / "latest.pth", weights_only=False)["model_state"]
    b = torch.load(ckpt / "latest.pth", weights_only=False)["model_state"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_started_over_keeps_round_0_and_forgets_the_earlier_runs_refreshes(setup, finished):
    again = setup[0] / "again"
    shutil.copytree(finished, again)
    pool_0 = (again / "database" / "pool_0" / "manifest.json").stat().st_mtime_ns
    assert cpsp(setup, again, "--epochs", "1") == 0  # no --resume: training starts over, no refresh in 1 epoch
    assert (again / "database" / "pool_0" / "manifest.json").stat().st_mtime_ns == pool_0
    assert not (again / "database" / "pool_1").exists() and not (again / "thresholds_round1.json").exists()
    quality = json.loads((again / "pseudo_label_quality.json").read_text())
    assert [r["round"] for r in quality["rounds"]] == [0]


def test_a_ledger_of_another_pool_or_without_labels_is_refused(setup, capsys):
    tmp = setup[0]
    other = Ledger.create("kitti", "train", ["Car", "Pedestrian", "Cyclist"], ["900000", "900001"])
    other.save(tmp / "other.json")
    empty = Ledger.create("kitti", "train", ["Car", "Pedestrian", "Cyclist"], Ledger.load(setup[2]).pool)
    empty.save(tmp / "empty.json")
    for ledger, message in (("other.json", "other.json"), ("empty.json", "no labelled frame")):
        tmp_setup = (tmp, setup[1], tmp / ledger, setup[3])
        capsys.readouterr()
        assert cpsp(tmp_setup, tmp / f"bad_{ledger}") == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_a_checkpoint_of_another_model_config_is_refused(setup, capsys):
    out = setup[0] / "wrong_model"
    assert cpsp(setup, out, "--set", "model.backbone.num_filters=[16,64,128]") == 1
    err = capsys.readouterr().err
    assert "latest.pth" in err and "fingerprint" in err


def test_a_model_that_predicts_nothing_leaves_backgrounds_and_gt_and_training_runs(setup, capsys):
    out = setup[0] / "silent"
    assert cpsp(setup, out, "--epochs", "1", "--set", "model.post_processing.score_threshold=1.0") == 0
    assert "predicted nothing" in capsys.readouterr().err
    pool = DatabasePart(out / "database" / "pool_0")
    assert pool.num_objects() == 0 and pool.num_backgrounds() == 3
    assert (out / "ckpt" / "latest.pth").is_file()


def test_the_pool_part_does_not_change_when_the_pool_labels_do(setup, kitti_sample, tmp_path):
    tmp, config_path, ledger, ckpt = setup
    poisoned = tmp_path / "poisoned"
    shutil.copytree(kitti_sample, poisoned, ignore=shutil.ignore_patterns("openpcdet_infos"))
    for frame_id in Ledger.load(ledger).unlabelled:  # every unlabelled frame now holds one made-up car
        (poisoned / "training" / "label_2" / f"{frame_id}.txt").write_text(
            "Car 0.00 0 -1.58 587.01 173.33 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59\n")
    parts = []
    for root in (kitti_sample, poisoned):
        config = load_config(config_path, [f"data.root={root}"])
        inputs = prepare_inputs(config, ledger, final=False)
        assert all(info.annos is None for info in inputs.unlabelled)
        from ssal.models import build_detector
        from ssal.engine import load_weights

        model = build_detector(config.model, seed=config.train.seed)
        load_weights(model, ckpt, config.model.name, config.model)
        out = tmp_path / f"out{len(parts)}"
        build_database(config, inputs, model, ckpt, out / "database", out, DistContext.single("cpu"))
        parts.append(out / "database" / "pool_0")
    assert (parts[0] / "points.bin").read_bytes() == (parts[1] / "points.bin").read_bytes()
    a, b = DatabasePart(parts[0]).objects, DatabasePart(parts[1]).objects
    assert all(np.array_equal(a[key], b[key]) for key in a)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_torchrun_ranks_refresh_once_and_train_on_the_same_database(setup, kitti_sample, tmp_path):
    tmp, config, ledger, ckpt = setup
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", str(HELPER), str(config), str(kitti_sample), str(ledger), str(ckpt),
               str(tmp_path)]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["world_size"] == 2
    assert ranks[0]["records"] == ranks[1]["records"]  # same rounds, same database bytes, same final weights
    assert [r["round"] for r in ranks[0]["records"][:2]] == [0, 1]
    assert ranks[0]["records"][0]["database"] != ranks[0]["records"][1]["database"]  # the refresh changed it
    predictions = json.loads((tmp_path / "run" / "database" / "predictions_1" / "frame_ids.json").read_text())
    assert sorted(predictions) == sorted(Ledger.load(ledger).unlabelled)  # both shards merged
