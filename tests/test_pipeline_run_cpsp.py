"""``ssal run`` with CPSP (``pipeline.pretrain: cpsp``): the ``cpsp`` and ``final_cpsp`` stages, the query that
cascades the CPSP model with the pretrain model, resuming an interrupted CPSP stage, and the S-SSAL tiny run.
These need ``ssal.ssl`` (issue 10)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ssal.active.ledger import Ledger
from ssal.config import load_config
from ssal.pipeline.plan import build_plan
from ssal.pipeline.run import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "synthetic" / "s_ssal_tiny.yaml"
FAST = ["train.epochs=1", "data.train_repeat=1", "train.batch_size=4", "train.workers=0",
        "active.initial_budget=20", "active.round_budget=15", "pipeline.bev_frames=2", "cpsp.epochs=1",
        "cpsp.repeat=1", "cpsp.final_repeat=1"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from ssal.data.synthetic.generate import generate

    root = tmp_path_factory.mktemp("cpsp_world") / "world"
    generate(root, 24, seed=5, val_frames=8, preset="small")
    return root


def config_for(world: Path, *extra: str):
    return load_config(TINY, [f"data.root={world}", *FAST, *extra])


@pytest.fixture(scope="module")
def s_ssal(world, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("s_ssal") / "run"
    run_pipeline(config_for(world), run, config_file="tiny")
    return run


def manifest_of(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def test_the_s_ssal_tiny_run_has_every_stage(s_ssal):
    manifest = manifest_of(s_ssal)
    assert manifest["plan"] == ["init", "pretrain", "cpsp", "query", "final", "final_cpsp", "evaluate"]
    stages = manifest["stages"]
    assert all(stages[name]["status"] == "complete" for name in manifest["plan"])
    assert stages["cpsp"]["inputs"]["init_checkpoint"]["path"] == "pretrain/ckpt/latest.pth"
    assert stages["cpsp"]["inputs"]["ledger"]["round"] == 0
    assert stages["final_cpsp"]["inputs"]["init_checkpoint"]["path"] == "final/ckpt/latest.pth"
    assert stages["final_cpsp"]["inputs"]["ledger"]["round"] == 1
    # CPSP sees the labelled set of its own round, whatever the ledger holds later.
    assert Ledger.load(s_ssal / "cpsp" / "ledger_round_0.json").labelled == \
        Ledger.load(s_ssal / "ledger.json").at_round(0).labelled
    results = json.loads((s_ssal / "results.json").read_text())
    assert [m["stage"] for m in results["models"]] == ["pretrain", "cpsp", "final", "final_cpsp"]
    assert (s_ssal / "report" / "index.html").is_file()


def test_the_query_cascades_the_cpsp_model_with_the_pretrain_model(s_ssal):
    stages = manifest_of(s_ssal)["stages"]
    query = stages["query"]
    assert query["metrics"]["model"] == "cpsp" and query["metrics"]["partner"] == "pretrain"
    assert query["inputs"]["checkpoint"]["path"] == stages["cpsp"]["outputs"]["checkpoint"]["path"]
    assert query["inputs"]["partner_checkpoint"]["path"] == "pretrain/ckpt/latest.pth"
    assert not any("no partner model" in note for note in query["notes"])
    assert (s_ssal / "pool_outputs" / "cpsp" / "meta.json").is_file()
    assert (s_ssal / "pool_outputs" / "pretrain" / "meta.json").is_file()


def test_the_partner_predicts_with_the_configured_nms(world, tmp_path):
    run = tmp_path / "run"
    run_pipeline(config_for(world, "pipeline.partner_nms_iou=0.1"), run, config_file="tiny", until="query")
    meta = json.loads((run / "pool_outputs" / "pretrain_nms0.1" / "meta.json").read_text())
    assert meta["info"]["nms_iou"] == 0.1


def test_an_interrupted_cpsp_stage_continues(s_ssal, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(s_ssal, run)
    world = Path(manifest_of(run)["config"]["data"]["root"])
    manifest = manifest_of(run)
    manifest["stages"]["final_cpsp"]["status"] = "running"
    (run / "manifest.json").write_text(json.dumps(manifest))
    run_pipeline(config_for(world), run, config_file="tiny", report=False)
    assert "final_cpsp (continuing an interrupted attempt)" in (run / "run.log").read_text()
    assert manifest_of(run)["stages"]["final_cpsp"]["status"] == "complete"


def test_the_normal_variant_has_no_cpsp_stage_but_may_end_with_one(world):
    normal = config_for(world, "pipeline.pretrain=normal")
    assert "cpsp" not in [s.name for s in build_plan(normal)]
    original = config_for(world, "pipeline.pretrain=normal", "pipeline.final_cpsp=true")
    assert [s.name for s in build_plan(original)][-2:] == ["final_cpsp", "evaluate"]
