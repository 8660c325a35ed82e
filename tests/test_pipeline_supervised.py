"""Supervised training from a config: the labelled set decides both the samples and the copy-paste bank, and an
interrupted run resumes to exactly the weights of an uninterrupted one."""

import shutil
import textwrap
from pathlib import Path

import pytest
import torch

from ssal.active.ledger import Ledger
from ssal.cli import main as ssal
from ssal.config import load_config
from ssal.data.datasets import dataset_from_config
from ssal.engine.distributed import DistContext
from ssal.pipeline.supervised import build_training_set, select_frames, train_detector

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "synthetic"
TINY = CONFIGS / "tiny.yaml"


@pytest.fixture()
def config(kitti_sample):
    return load_config(TINY, [f"data.root={kitti_sample}", "train.workers=0", "train.batch_size=2",
                              "train.epochs=2", "train.log_interval=1"])


def test_copy_paste_bank_comes_from_the_labelled_frames_only(config):
    reader = dataset_from_config(config.data)
    labelled = select_frames(reader.infos("train"), ["000007", "000010"])
    dataset = build_training_set(config, reader, labelled)
    sources = {sample.frame_id for samples in dataset.database.objects.values() for sample in samples}
    assert sources == {"000007", "000010"}
    assert [info.frame_id for info in dataset.infos] == ["000007", "000010"]


def test_unknown_labelled_frame_is_an_error(config):
    reader = dataset_from_config(config.data)
    with pytest.raises(Exception, match="1 frame\\(s\\) are not in the training split"):
        select_frames(reader.infos("train"), ["000007", "999999"])


def test_resumed_detector_training_ends_with_the_same_weights_on_cpu(config, tmp_path):
    # Bit-identical on CPU; on CUDA, atomic-add kernels (grid_sample's backward) round in a varying order.
    cpu = DistContext.single("cpu")
    frames = ["000003", "000007", "000010"]
    straight = train_detector(config, tmp_path / "straight", frames, dist=cpu)
    # A run killed during epoch 2 leaves the checkpoint of epoch 1 as its latest: the straight run's folder as it
    # was then (same files, epoch 2 not yet written), without training it a second time.
    halfway = tmp_path / "halfway"
    shutil.copytree(tmp_path / "straight", halfway)
    for stale in ("latest.pth", "checkpoint_epoch_2.pth"):
        (halfway / "ckpt" / stale).unlink()
    (halfway / "ckpt" / "checkpoint_epoch_1.pth").rename(halfway / "ckpt" / "latest.pth")
    resumed = train_detector(config, halfway, frames, resume=True, dist=cpu)
    a, b = torch.load(straight, weights_only=True), torch.load(resumed, weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    for key, value in a["model_state"].items():
        assert torch.equal(value, b["model_state"][key]), key


def test_train_command_trains_on_the_ledgers_labelled_frames(kitti_sample, tmp_path, capsys):
    run = tmp_path / "run.yaml"
    run.write_text(textwrap.dedent(f"""
        _base_: {TINY}
        data:
          root: {kitti_sample}
        train:
          epochs: 1
          batch_size: 1
          workers: 0
          log_interval: 1
    """))
    assert ssal(["ledger", "init", "--config", str(run), "--budget", "2", "--unit", "frames", "--seed", "1",
                 "--out", str(tmp_path / "ledger.json")]) == 0
    labelled = Ledger.load(tmp_path / "ledger.json").labelled
    assert len(labelled) == 2
    assert ssal(["train", "--config", str(run), "--ledger", str(tmp_path / "ledger.json"),
                 "--out", str(tmp_path / "out")]) == 0
    steps = [line for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines() if '"step"' in line]
    assert (tmp_path / "out" / "ckpt" / "latest.pth").is_file() and (tmp_path / "out" / "config.yaml").is_file()
    assert len([s for s in steps if '"kind": "step"' in s]) == len(labelled)  # one frame per step, one epoch


def test_a_ledger_of_another_pool_is_refused(kitti_sample, tmp_path, capsys):
    run = tmp_path / "run.yaml"
    run.write_text(f"_base_: {TINY}\ndata:\n  root: {kitti_sample}\n")
    assert ssal(["ledger", "init", "--config", str(run), "--budget", "2", "--unit", "frames",
                 "--out", str(tmp_path / "l.json")]) == 0
    other = tmp_path / "other.yaml"
    other.write_text(f"_base_: {run}\ndata:\n  train_split: val\n")
    assert ssal(["train", "--config", str(other), "--ledger", str(tmp_path / "l.json"), "--out",
                 str(tmp_path / "o")]) == 1
    assert "l.json" in capsys.readouterr().err


def test_a_checkpoint_of_another_config_is_refused_naming_both(config, tmp_path):
    from ssal.errors import SsalError
    from ssal.pipeline.prediction import load_detector

    from ssal.engine.checkpoint import FORMAT_VERSION, ModelIdentity, save_checkpoint
    from ssal.models import build_detector

    # An untrained tiny detector's checkpoint, as `ssal train` writes it (training would add nothing here).
    identity = ModelIdentity.of(config.model.name, config.model)
    checkpoint = tmp_path / "tiny" / "ckpt" / "latest.pth"
    save_checkpoint({"format_version": FORMAT_VERSION, "model_name": identity.name,
                     "config_fingerprint": identity.fingerprint,
                     "model_state": build_detector(config.model, seed=0).state_dict()}, [checkpoint])
    load_detector(config, checkpoint)  # it fits its own config
    other = load_config(CONFIGS / "cpu.yaml", [f"data.root={config.data.root}"])
    with pytest.raises(SsalError, match=r"latest\.pth: weights do not fit the model; it holds model 'pillar_rcnn' "
                                        r"with config fingerprint \w+, this config builds .* fingerprint \w+ \("):
        load_detector(other, checkpoint)
