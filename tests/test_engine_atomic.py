"""Atomic writes: readers see the old file or the whole new one, never a torn one."""

from __future__ import annotations

import json
import os
import pickle
import stat

import pytest
import torch

from ssal.atomic import atomic_open, atomic_pickle_dump, atomic_torch_save, atomic_write_json


def test_writes_create_folders_and_replace_the_file(tmp_path):
    path = tmp_path / "run" / "manifest.json"
    atomic_write_json(path, {"stage": "init"})
    atomic_write_json(path, {"stage": "pretrain"})
    assert json.loads(path.read_text()) == {"stage": "pretrain"}
    assert os.listdir(path.parent) == ["manifest.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "ledger.json"
    atomic_write_json(path, {"round": 1})
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_open(path, "w") as handle:
            handle.write('{"round": 2, "fram')
            raise RuntimeError("disk full")
    assert json.loads(path.read_text()) == {"round": 1}
    assert os.listdir(tmp_path) == ["ledger.json"]


def test_an_unpicklable_object_leaves_nothing_behind(tmp_path):
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        atomic_pickle_dump(tmp_path / "db.pkl", {"f": lambda: 0})
    assert os.listdir(tmp_path) == []


def test_files_get_ordinary_permissions_not_the_temporary_files_private_ones(tmp_path):
    atomic_torch_save(tmp_path / "w.pth", {"w": torch.ones(2)})
    mode = stat.S_IMODE(os.stat(tmp_path / "w.pth").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    assert torch.equal(torch.load(tmp_path / "w.pth")["w"], torch.ones(2))


def test_only_whole_file_modes_are_allowed(tmp_path):
    with pytest.raises(ValueError, match="'a'"):
        with atomic_open(tmp_path / "x", "a"):
            pass
