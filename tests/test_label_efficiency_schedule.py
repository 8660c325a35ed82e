"""The iteration-based schedule of the label-efficiency benchmark: with ``data.samples_per_epoch`` (supervised
stages) and ``cpsp.samples_per_epoch`` / ``cpsp.final_samples_per_epoch`` (CPSP stages) every training epoch is
the same number of samples whatever the labelled set's size, so a strategy that bought more frames for the same
boxes does not also get more training."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssal.config import load_config
from ssal.data.datasets import dataset_from_config
from ssal.errors import SsalError
from ssal.pipeline.supervised import build_training_set

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "synthetic" / "s_ssal_tiny.yaml"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from ssal.data.synthetic.generate import generate

    root = tmp_path_factory.mktemp("schedule_world") / "world"
    generate(root, 8, seed=3, val_frames=2, preset="small")
    return root


def training_set(world: Path, frames: int, *overrides: str):
    config = load_config(TINY, [f"data.root={world}", "augment.copy_paste=false", *overrides])
    reader = dataset_from_config(config.data)
    return build_training_set(config, reader, reader.infos("train")[:frames])


def test_every_labelled_set_size_gets_the_same_epoch_length(world):
    small = training_set(world, 2, "data.samples_per_epoch=12")
    large = training_set(world, 5, "data.samples_per_epoch=12")
    assert len(small) == len(large) == 12
    # the frames are cycled: every frame of the smaller set is seen 6 times an epoch
    ids = [small[i]["frame_id"] for i in range(12)]
    assert sorted(set(ids)) == sorted(info.frame_id for info in small.infos) and ids.count(ids[0]) == 6


def test_without_it_an_epoch_is_the_labelled_set_times_the_repeat(world):
    assert len(training_set(world, 2, "data.train_repeat=3")) == 6
    assert len(training_set(world, 5, "data.train_repeat=3")) == 15


def test_cpsp_stages_take_their_own_epoch_length():
    config = load_config(TINY, ["cpsp.samples_per_epoch=40", "cpsp.final_samples_per_epoch=30"])
    classes = list(config.data.classes)
    assert config.cpsp.stage(classes, final=False).samples_per_epoch == 40
    assert config.cpsp.stage(classes, final=True).samples_per_epoch == 30
    assert load_config(TINY).cpsp.stage(classes, final=False).samples_per_epoch is None


def test_mixed_dataset_length_follows_the_stage(world, tmp_path):
    from ssal.ssl.mixed_dataset import MixedDataset

    class Stage:  # only what MixedDataset.__len__ reads
        repeat, samples_per_epoch = 2, 17

    dataset = MixedDataset.__new__(MixedDataset)
    dataset.labelled, dataset.stage = training_set(world, 3), Stage()
    assert len(dataset) == 17
    Stage.samples_per_epoch = None
    assert len(dataset) == 6


@pytest.mark.parametrize("override, key", [("data.samples_per_epoch=0", "samples_per_epoch"),
                                           ("cpsp.final_samples_per_epoch=0", "final_samples_per_epoch")])
def test_a_non_positive_epoch_length_is_refused(override, key):
    with pytest.raises(SsalError, match=key):
        load_config(TINY, [override])
