"""``ssal ledger``, ``ssal query`` and ``ssal import-labels`` on the real KITTI sample (5 train frames), with saved
pool predictions standing in for a model."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ssal.active import Ledger, PoolOutputs
from ssal.active.simulated_outputs import simulated_outputs
from ssal.cli import main

TRAIN = ["000000", "000003", "000007", "000009", "000010"]  # kitti_sample's train split: 18 target boxes


@pytest.fixture
def run_dir(tmp_path, kitti_sample):
    (tmp_path / "run.yaml").write_text(f"train:\n  seed: 3\ndata:\n  root: {kitti_sample}\n")
    return tmp_path


def saved_outputs(path, frame_ids=TRAIN, seed=0):
    fake = simulated_outputs(len(frame_ids), np.random.default_rng(seed))
    return PoolOutputs(list(frame_ids), fake.offsets, fake.arrays, fake.classes).save(path)


def ssal(*args) -> int:
    return main([str(a) for a in args])


def test_simulated_round_trip_init_query_show(run_dir, capsys):
    config, ledger_path = run_dir / "run.yaml", run_dir / "ledger.json"
    assert ssal("ledger", "init", "--config", config, "--budget", 10, "--out", ledger_path) == 0
    ledger = Ledger.load(ledger_path)
    assert ledger.denominator["boxes"] == 18 and ledger.denominator["per_class"]["Car"] == 15
    assert 0 < ledger.spent()["boxes"] <= 10

    outputs = saved_outputs(run_dir / "outputs")
    assert ssal("query", "--config", config, "--ledger", ledger_path, "--outputs", outputs, "--strategy", "entropy",
                "--budget", 4, "--out", run_dir / "q") == 0
    rows = list(csv.DictReader(open(run_dir / "q" / "query_round_1.csv")))
    assert sorted(r["frame"] for r in rows) == sorted(ledger.unlabelled)
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    assert {"uncertainty", "similarity", "pred_Car", "expected_cost", "cost", "reason"} <= set(rows[0])
    bought = [r for r in rows if r["bought"] == "True"]
    after = Ledger.load(ledger_path)
    assert [r["frame"] for r in bought] == after.rounds[1].frames
    assert sum(int(r["cost"]) for r in bought) == sum(after.rounds[1].frame_costs()) <= 4

    capsys.readouterr()
    assert ssal("ledger", "show", ledger_path, "--round", 0) == 0
    shown = capsys.readouterr().out
    assert "round 0 (initial, random, seed 3" in shown and "round 1" not in shown
    assert ssal("ledger", "show", ledger_path, "--round", 0, "--out", run_dir / "from_round_0.json") == 0
    assert Ledger.load(run_dir / "from_round_0.json").to_dict() == after.at_round(0).to_dict()


def test_human_in_the_loop_ranking_then_import(run_dir, kitti_sample, capsys):
    config, ledger_path = run_dir / "run.yaml", run_dir / "ledger.json"
    assert ssal("ledger", "init", "--config", config, "--budget", 2, "--unit", "frames", "--no-oracle",
                "--out", ledger_path) == 0
    ledger = Ledger.load(ledger_path)
    assert ledger.denominator is None and ledger.pending.frames and ledger.spent()["frames"] == 0

    labels = run_dir / "labels"
    labels.mkdir()
    first = ledger.pending.frames[0]
    shutil.copy(kitti_sample / "training" / "label_2" / f"{first}.txt", labels)
    assert ssal("import-labels", "--ledger", ledger_path, "--labels", labels) == 1
    assert "1 of the 2 frames of round 0 have no label file" in capsys.readouterr().err
    assert Ledger.load(ledger_path).pending is not None  # nothing recorded

    for frame_id in ledger.pending.frames:
        shutil.copy(kitti_sample / "training" / "label_2" / f"{frame_id}.txt", labels)
    assert ssal("import-labels", "--ledger", ledger_path, "--labels", labels) == 0
    assert Ledger.load(ledger_path).spent()["frames"] == 2

    outputs = saved_outputs(run_dir / "outputs")
    assert ssal("query", "--config", config, "--ledger", ledger_path, "--outputs", outputs, "--strategy", "cal",
                "--budget", 1, "--unit", "frames", "--out", run_dir / "q", "--no-oracle") == 0
    ranking = json.loads((run_dir / "q" / "query_round_1.json").read_text())
    assert ranking["status"] == "pending" and len(ranking["frames"]) == 3
    assert all("expected_cost" in row and row["reason"] for row in ranking["frames"])
    pending = Ledger.load(ledger_path).pending
    assert pending.frames == [ranking["frames"][0]["frame"]]
    assert ssal("query", "--config", config, "--ledger", ledger_path, "--outputs", outputs, "--strategy", "random",
                "--budget", 1, "--unit", "frames", "--out", run_dir / "q2", "--no-oracle") == 1
    assert "waiting for labels" in capsys.readouterr().err


def test_bad_inputs_are_one_line_errors(run_dir, capsys):
    config, ledger_path = run_dir / "run.yaml", run_dir / "ledger.json"
    assert ssal("ledger", "init", "--config", config, "--budget", 10, "--out", ledger_path) == 0
    outputs = saved_outputs(run_dir / "outputs")
    query = ["query", "--config", config, "--ledger", ledger_path, "--outputs", outputs, "--out", run_dir / "q"]

    def error(*args) -> str:
        capsys.readouterr()
        assert ssal(*args) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1
        return err

    assert "known: random, entropy, mc_dropout, coreset, badge, crb, cal" in error(*query, "--strategy", "bald")
    assert "budget must be positive" in error(*query, "--strategy", "random", "--budget", 0)
    other_pool = saved_outputs(run_dir / "partner", TRAIN[:2])
    assert "have no predictions here" in error(*query, "--strategy", "cal", "--partner-outputs", other_pool)
    reordered = "[Pedestrian, Car, Cyclist]"  # class ids follow the order, so this is another class list
    assert "ledger.json: this ledger is for classes ['Car', 'Pedestrian', 'Cyclist'], the config has " \
           "['Pedestrian', 'Car', 'Cyclist']" in error(*query, "--strategy", "random", "--set",
                                                      f"data.classes={reordered}", "--set",
                                                      f"model.class_names={reordered}")
    assert "a ledger already exists" in error("ledger", "init", "--config", config, "--budget", 10,
                                              "--out", ledger_path)


@pytest.fixture
def trained_run(run_dir):
    """The run config with the tiny detector, and a checkpoint of it (fresh weights stand in for training)."""
    import torch

    from ssal.engine.checkpoint import FORMAT_VERSION, save_checkpoint
    from ssal.models import build_detector, load_model_config

    tiny = Path(__file__).resolve().parents[1] / "configs" / "_models" / "tiny.yaml"
    text = (run_dir / "run.yaml").read_text()
    (run_dir / "run.yaml").write_text(f"_base_: {tiny}\n{text}")
    model = build_detector(load_model_config(tiny), seed=0)
    save_checkpoint({"format_version": FORMAT_VERSION, "model_name": "pillar_rcnn", "config_fingerprint": "-",
                     "model_state": model.state_dict()}, [run_dir / "model.pth"])
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is 10x faster on a busy 2-core machine
    yield run_dir
    torch.set_num_threads(before)


@pytest.mark.parametrize("strategy", ["mc_dropout", "cal"])
def test_query_runs_the_checkpoint_over_the_pool(trained_run, strategy):
    config, ledger_path = trained_run / "run.yaml", trained_run / "ledger.json"
    assert ssal("ledger", "init", "--config", config, "--budget", 10, "--out", ledger_path) == 0
    partner = ["--partner-ckpt", trained_run / "model.pth"] if strategy == "cal" else []
    assert ssal("query", "--config", config, "--ledger", ledger_path, "--ckpt", trained_run / "model.pth",
                "--strategy", strategy, "--budget", 3, "--out", trained_run / "q", *partner) == 0
    ledger = Ledger.load(ledger_path)
    stored = PoolOutputs.open(trained_run / "q" / "pool_outputs")
    assert sorted(stored.frame_ids) == sorted(ledger.unlabelled + ledger.rounds[1].frames)  # the pool at query time
    assert stored.has("mc_boxes") == (strategy == "mc_dropout")
    assert (trained_run / "q" / "partner_outputs").exists() == (strategy == "cal")
    assert len(ledger.rounds) == 2 and sum(ledger.rounds[1].frame_costs()) <= 3


def test_query_never_hands_the_model_a_label(trained_run, monkeypatch):
    """The real `ssal query` path, with both models of CAL's cascade spied on: every batch they receive must hold
    points and no ground-truth box (the pool's frames have labels on disk, which the oracle reads)."""
    import ssal.models as models  # (a plain `import ssal.models` would shadow the ssal() helper)
    from ssal.models import build_detector

    seen: list[str] = []

    def refuse_labels(module, args):
        batch = args[0]
        assert batch["gt_boxes"].abs().sum() == 0, f"the model received ground-truth boxes of {batch['frame_ids']}"
        assert len(batch["points"]) > 0
        seen.extend(batch["frame_ids"])

    def spied_detector(*args, **kwargs):
        model = build_detector(*args, **kwargs)
        model.register_forward_pre_hook(refuse_labels)
        return model

    monkeypatch.setattr(models, "build_detector", spied_detector)
    config, ledger_path = trained_run / "run.yaml", trained_run / "ledger.json"
    assert ssal("ledger", "init", "--config", config, "--budget", 10, "--out", ledger_path) == 0
    unlabelled = Ledger.load(ledger_path).unlabelled
    assert sum(Ledger.load(ledger_path).denominator["per_class"].values()) == 18  # labels exist for every frame
    assert ssal("query", "--config", config, "--ledger", ledger_path, "--ckpt", trained_run / "model.pth",
                "--partner-ckpt", trained_run / "model.pth", "--strategy", "cal", "--budget", 3,
                "--out", trained_run / "q") == 0
    assert sorted(seen) == sorted(unlabelled * 2)  # both models ran over the whole unlabelled pool
