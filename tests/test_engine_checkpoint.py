"""Checkpoints: what they hold, and the one-line errors for files that do not fit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ssal.engine.checkpoint import (
    FORMAT_VERSION,
    ModelIdentity,
    config_fingerprint,
    epoch_checkpoint_path,
    list_epoch_checkpoints,
    load_checkpoint,
    load_weights,
    prune_checkpoints,
    save_checkpoint,
)
from ssal.errors import SsalError


def payload(model: nn.Module, name="pillar_rcnn", config=None, **extra):
    identity = ModelIdentity.of(name, config or {"pillar": 0.16})
    values = {"format_version": FORMAT_VERSION, "ssal_version": "0.1.0", "model_name": identity.name,
              "config_fingerprint": identity.fingerprint, "epoch": 3, "global_step": 30,
              "model_state": model.state_dict()}
    values.update(extra)
    return values


def test_fingerprints_ignore_key_order_and_see_every_value():
    assert config_fingerprint({"a": 1, "b": [1, 2]}) == config_fingerprint({"b": (1, 2), "a": 1})
    assert config_fingerprint({"a": 1, "b": [1, 2]}) != config_fingerprint({"a": 1, "b": [1, 3]})
    assert len(config_fingerprint({})) == 16
    with pytest.raises(TypeError, match="object"):
        config_fingerprint({"a": object()})


def test_save_then_load_round_trips_for_the_same_model(tmp_path):
    model = nn.Linear(3, 2)
    paths = [tmp_path / "ckpt" / "latest.pth", epoch_checkpoint_path(tmp_path, 3)]
    save_checkpoint(payload(model), paths)
    loaded = load_checkpoint(paths[1], ModelIdentity.of("pillar_rcnn", {"pillar": 0.16}))
    assert loaded["epoch"] == 3 and torch.equal(loaded["model_state"]["weight"], model.weight)
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_another_model_config_is_refused_naming_file_found_and_expected(tmp_path):
    path = tmp_path / "latest.pth"
    save_checkpoint(payload(nn.Linear(3, 2)), [path])
    expected = ModelIdentity.of("pillar_rcnn", {"pillar": 0.32})
    with pytest.raises(SsalError) as error:
        load_checkpoint(path, expected)
    found = config_fingerprint({"pillar": 0.16})
    assert str(error.value) == (
        f"{path}: checkpoint holds model 'pillar_rcnn' with config fingerprint {found}, but this run expects "
        f"model 'pillar_rcnn' with config fingerprint {expected.fingerprint}; use the model config it was "
        "trained with, or a new run directory"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a readable checkpoint"),
        (b"PK\x03\x04 half a zip", "not a readable checkpoint"),
    ],
)
def test_truncated_or_foreign_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "latest.pth"
    path.write_bytes(content)
    with pytest.raises(SsalError, match=message) as error:
        load_checkpoint(path, ModelIdentity("x", "y"))
    assert error.value.where == str(path) and "\n" not in str(error.value)


def test_a_cut_off_real_checkpoint_is_refused(tmp_path):
    path = tmp_path / "latest.pth"
    save_checkpoint(payload(nn.Linear(30, 20)), [path])
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(SsalError, match="truncated"):
        load_checkpoint(path, ModelIdentity("x", "y"))


def test_openpcdet_and_future_checkpoints_are_explained(tmp_path):
    torch.save({"epoch": 80, "it": 0, "model_state": {}, "optimizer_state": {}, "version": "pcdet+0.6.0"},
               tmp_path / "pcdet.pth")
    with pytest.raises(SsalError, match="looks like an OpenPCDet checkpoint"):
        load_checkpoint(tmp_path / "pcdet.pth", ModelIdentity("x", "y"))
    save_checkpoint(payload(nn.Linear(1, 1), format_version=FORMAT_VERSION + 1), [tmp_path / "new.pth"])
    with pytest.raises(SsalError, match="written by a newer ssal"):
        load_checkpoint(tmp_path / "new.pth", ModelIdentity("x", "y"))
    with pytest.raises(SsalError, match="not found"):
        load_checkpoint(tmp_path / "missing.pth", ModelIdentity("x", "y"))


def test_load_weights_checks_the_model_name_only(tmp_path):
    source = nn.Linear(3, 2)
    save_checkpoint(payload(source, config={"nms": 0.7}), [tmp_path / "pretrain.pth"])
    target = nn.Linear(3, 2)
    info = load_weights(target, tmp_path / "pretrain.pth", "pillar_rcnn")  # another config is fine here
    assert torch.equal(target.weight, source.weight) and info["epoch"] == 3
    with pytest.raises(SsalError, match="holds model 'pillar_rcnn', but weights for 'pv_rcnn' were expected"):
        load_weights(target, tmp_path / "pretrain.pth", "pv_rcnn")


def test_weights_that_do_not_fit_list_the_offending_tensors(tmp_path):
    save_checkpoint(payload(nn.Sequential(nn.Linear(3, 2))), [tmp_path / "w.pth"])
    with pytest.raises(SsalError) as error:
        load_weights(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)), tmp_path / "w.pth", "pillar_rcnn")
    assert "missing: 2.bias, 2.weight; shape mismatch: 0.bias (2,) vs (4,), 0.weight (2, 3) vs (4, 3)" in str(
        error.value
    )


def test_pruning_keeps_the_newest(tmp_path):
    for epoch in (5, 10, 15, 20):
        save_checkpoint({"epoch": epoch}, [epoch_checkpoint_path(tmp_path, epoch)])
    removed = prune_checkpoints(tmp_path, keep_last=2)
    assert [p.name for p in removed] == ["checkpoint_epoch_5.pth", "checkpoint_epoch_10.pth"]
    assert [epoch for epoch, _ in list_epoch_checkpoints(tmp_path)] == [15, 20]
