"""``ssal run`` on a small synthetic world with the tiny detector (``pipeline.pretrain: normal``, no CPSP):
the manifest, skipping complete stages, ``--from``/``--until``, refusing a changed config or another dataset,
continuing an interrupted training, multi-round protocols, full supervision, the report, and bad input.
The CPSP stages are tested in ``test_pipeline_run_cpsp.py``."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ssal.active.ledger import Ledger
from ssal.cli import main
from ssal.config import load_config
from ssal.errors import SsalError
from ssal.pipeline.plan import build_plan
from ssal.pipeline.run import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "synthetic" / "s_ssal_tiny.yaml"
FAST = ["train.epochs=1", "data.train_repeat=1", "train.batch_size=4", "train.workers=0",
        "active.initial_budget=20", "active.round_budget=15", "pipeline.pretrain=normal", "pipeline.bev_frames=2"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from ssal.data.synthetic.generate import generate

    root = tmp_path_factory.mktemp("pipeline_world") / "world"
    generate(root, 24, seed=5, val_frames=8, preset="small")
    return root


def config_for(world: Path, *extra: str):
    return load_config(TINY, [f"data.root={world}", *FAST, *extra])


@pytest.fixture(scope="module")
def finished(world, tmp_path_factory) -> Path:
    """One complete run (CAL, normal pre-training); tests that change it work on a copy."""
    run = tmp_path_factory.mktemp("finished") / "run"
    run_pipeline(config_for(world), run, config_file="tiny")
    return run


def copy_of(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def manifest_of(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def test_the_manifest_records_every_stage(finished):
    manifest = manifest_of(finished)
    assert manifest["kind"] == "ssal-run-manifest" and manifest["plan"] == ["init", "pretrain", "query", "final",
                                                                              "evaluate"]
    stages = manifest["stages"]
    assert all(stages[name]["status"] == "complete" for name in manifest["plan"])
    for name in manifest["plan"]:
        record = stages[name]
        assert len(record["fingerprint"]) == 16 and record["seed"] == 0 and record["wall_s"] >= 0
        for entry in record["outputs"].values():
            assert (finished / entry["path"]).exists() and len(entry["sha256"]) == 16
    assert stages["pretrain"]["inputs"]["ledger"]["round"] == 0
    assert stages["query"]["inputs"]["checkpoint"]["path"] == "pretrain/ckpt/latest.pth"
    assert stages["final"]["inputs"]["ledger"]["round"] == 1
    assert set(stages["evaluate"]["inputs"]) == {"pretrain", "final"}
    pretrain_keys = stages["pretrain"]["config"]
    assert pretrain_keys["train.epochs"] == 1 and "active.round_budget" not in pretrain_keys
    assert stages["query"]["config"]["active.round_budget"] == 15

    ledger = Ledger.load(finished / "ledger.json")
    init, query = stages["init"]["metrics"], stages["query"]["metrics"]
    assert init["labelled_boxes"] == sum(ledger.rounds[0].frame_costs()) <= 20
    assert query["bought_frames"] == len(ledger.rounds[1].frames) and query["bought_boxes"] <= 15
    # CAL without its partner model says so, in the manifest and in the log.
    assert any("no partner model" in note for note in stages["query"]["notes"])
    assert "no partner model" in (finished / "run.log").read_text()

    results = json.loads((finished / "results.json").read_text())
    assert [m["stage"] for m in results["models"]] == ["pretrain", "final"]
    assert results["models"][1]["labelled"]["labelled_boxes"] == ledger.spent()["boxes"]
    assert (finished / "eval" / "final" / "metrics.json").is_file() and (finished / "config.yaml").is_file()


def test_a_rerun_skips_complete_stages(finished, tmp_path, capsys):
    run = copy_of(finished, tmp_path)
    before = manifest_of(run)["stages"]
    checkpoint = run / "final" / "ckpt" / "latest.pth"
    stamp = checkpoint.stat().st_mtime_ns
    assert main(["run", "--config", str(TINY), "--out", str(run), "--data-root", str(_world_of(run)),
                 *sum((["--set", s] for s in FAST), [])]) == 0
    out = capsys.readouterr().out
    assert out.count("complete, skipped") == 5
    after = manifest_of(run)["stages"]
    assert {k: v["started"] for k, v in after.items()} == {k: v["started"] for k, v in before.items()}
    assert checkpoint.stat().st_mtime_ns == stamp
    assert (run / "report" / "index.html").is_file()


def _world_of(run: Path) -> str:
    return manifest_of(run)["config"]["data"]["root"]


def test_a_changed_config_is_refused_naming_the_key_unless_from_says_where(finished, tmp_path):
    run = copy_of(finished, tmp_path)
    world = Path(_world_of(run))
    recorded = (run / "manifest.json").read_text()
    with pytest.raises(SsalError, match=r"manifest.json: stage 'query' was run with active.round_budget = 15 "
                                        r"\(tiny\), tiny now says 12: add --from query"):
        run_pipeline(config_for(world, "active.round_budget=12"), run, config_file="tiny")
    assert (run / "manifest.json").read_text() == recorded  # a refused run changes nothing
    with pytest.raises(SsalError, match=r"stage 'pretrain' was run with train.lr = 0.003"):
        run_pipeline(config_for(world, "train.lr=0.01"), run, config_file="tiny")
    # Where the data lives and how many workers load it do not change what a stage computed.
    moved = tmp_path / "moved_world"
    shutil.copytree(world, moved)
    run_pipeline(config_for(moved, "train.workers=1"), run, config_file="tiny", report=False)
    # --from query redoes the query and what follows with the new budget; the stages before are kept.
    before = manifest_of(run)["stages"]
    run_pipeline(config_for(world, "active.round_budget=12"), run, config_file="tiny", from_stage="query")
    after = manifest_of(run)["stages"]
    assert after["pretrain"]["started"] == before["pretrain"]["started"]
    assert after["query"]["started"] >= before["query"]["started"]
    assert after["query"]["metrics"]["bought_boxes"] <= 12
    assert len(Ledger.load(run / "ledger.json").rounds) == 2  # the round was replaced, not added


def test_from_and_until(world, tmp_path, capsys):
    run = tmp_path / "run"
    with pytest.raises(SsalError, match=r"--from: cannot start at 'query': stage 'init' before it has not completed"):
        run_pipeline(config_for(world), run, config_file="tiny", from_stage="query")
    with pytest.raises(SsalError, match=r"--until: unknown stage 'cpsp'; this config's stages are init, pretrain, "
                                        r"query, final, evaluate"):
        run_pipeline(config_for(world), run, config_file="tiny", until="cpsp")
    run_pipeline(config_for(world), run, config_file="tiny", until="pretrain")
    stages = manifest_of(run)["stages"]
    assert set(stages) == {"init", "pretrain"} and (run / "pretrain" / "ckpt" / "latest.pth").is_file()
    assert not (run / "report").exists()
    out = capsys.readouterr().out
    assert "[2/5] pretrain (starting); then query, final, evaluate" not in out  # --until: nothing after pretrain
    assert "[2/5] pretrain (starting); the last stage" in out


def test_an_interrupted_training_continues_from_its_last_checkpoint(world, tmp_path):
    run = tmp_path / "run"
    config = config_for(world, "train.epochs=2", "data.train_repeat=2", "train.ckpt_interval=1", "train.keep_last=2")
    run_pipeline(config, run, config_file="tiny", until="pretrain")
    ckpt = run / "pretrain" / "ckpt"
    # What a run killed during epoch 2 leaves: the stage marked running, the checkpoint of epoch 1 as the latest.
    for stale in ("latest.pth", "checkpoint_epoch_2.pth"):
        (ckpt / stale).unlink()
    (ckpt / "checkpoint_epoch_1.pth").rename(ckpt / "latest.pth")
    manifest = manifest_of(run)
    manifest["stages"]["pretrain"]["status"] = "running"
    (run / "manifest.json").write_text(json.dumps(manifest))
    run_pipeline(config, run, config_file="tiny", until="pretrain")
    log = (run / "run.log").read_text()
    assert "pretrain (continuing an interrupted attempt)" in log and "resumed from" in log and "after epoch 1" in log
    import torch

    assert torch.load(ckpt / "latest.pth", weights_only=False)["epoch"] == 2
    assert manifest_of(run)["stages"]["pretrain"]["status"] == "complete"


def test_another_dataset_is_refused_naming_both(finished, tmp_path):
    from ssal.data.synthetic.generate import generate

    other = tmp_path / "other"
    generate(other, 20, seed=6, val_frames=4, preset="small")
    with pytest.raises(SsalError, match=r"manifest.json: this run folder was made by tiny for a kitti pool of 24 "
                                        r"frames .*; other.yaml reads a kitti pool of 20 frames"):
        run_pipeline(config_for(other), copy_of(finished, tmp_path), config_file="other.yaml")


def test_a_manifest_or_ledger_cut_in_half_is_named_and_left_alone(finished, tmp_path):
    run = copy_of(finished, tmp_path)
    world = Path(_world_of(run))
    text = (run / "manifest.json").read_text()
    (run / "manifest.json").write_text(text[: len(text) // 2])
    with pytest.raises(SsalError, match=r"manifest.json: not valid JSON .*nothing was overwritten"):
        run_pipeline(config_for(world), run, config_file="tiny")
    assert (run / "manifest.json").read_text() == text[: len(text) // 2]
    (run / "manifest.json").write_text(text)
    ledger = (run / "ledger.json").read_text()
    (run / "ledger.json").write_text(ledger[:100])
    with pytest.raises(SsalError, match=r"ledger.json: not valid JSON"):
        run_pipeline(config_for(world), run, config_file="tiny")
    assert (run / "ledger.json").read_text() == ledger[:100]


def test_budgets_beyond_the_pool_and_unknown_names_are_refused(world, tmp_path):
    with pytest.raises(SsalError, match=r"active.round_budget: the initial set and 1 round\(s\) of 900 ask for 920 "
                                        r"boxes, more than the pool holds"):
        run_pipeline(config_for(world, "active.round_budget=900"), tmp_path / "a", config_file="tiny")
    with pytest.raises(SsalError, match=r"active.initial_budget: 5000 boxes is not less than the whole pool"):
        run_pipeline(config_for(world, "active.initial_budget=5000"), tmp_path / "b", config_file="tiny")
    with pytest.raises(SsalError, match=r"active.strategy: unknown strategy 'smart'"):
        config_for(world, "active.strategy=smart")
    with pytest.raises(SsalError, match=r"pipeline.pretrain: expected one of 'normal', 'cpsp'"):
        config_for(world, "pipeline.pretrain=both")
    with pytest.raises(SsalError, match=r"active.cal.class_weights: must sum to the number of classes \(3\)"):
        config_for(world, "active.cal.class_weights=[0.3, 1.1, 1.5]")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(SsalError, match=r"not empty and holds no manifest.json"):
        run_pipeline(config_for(world), tmp_path / "c", config_file="tiny")


def test_a_round_that_buys_nothing_says_so(world, tmp_path):
    from ssal.active.workflow import open_pool

    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="bought nothing"):
        run_pipeline(config_for(world, "active.strategy=random", "active.round_budget=1"), run, config_file="tiny",
                     until="query")
    ranking = json.loads((run / "query" / "query_round_1.json").read_text())["frames"]
    oracle = open_pool(config_for(world)).oracle()
    assert sum(oracle.reveal(ranking[0]["frame"])) > 1  # the first-ranked frame alone exceeds the budget
    notes = manifest_of(run)["stages"]["query"]["notes"]
    assert any(f"round 1: bought nothing: the first-ranked frame {ranking[0]['frame']} alone costs" in n for n in notes)


def test_multi_round_protocol_reuses_pool_predictions(world, tmp_path, capsys):
    config = config_for(world, "active.unit=frames", "active.initial_budget=4", "active.round_budget=3",
                        "active.rounds=2", "active.retrain=false", "active.strategy=entropy")
    assert [s.name for s in build_plan(config)] == ["init", "pretrain", "query", "query_2", "final", "evaluate"]
    run = tmp_path / "run"
    run_pipeline(config, run, config_file="tiny", report=False)
    ledger = Ledger.load(run / "ledger.json")
    assert [len(r.frames) for r in ledger.rounds] == [4, 3, 3]
    assert "reusing the pretrain model's pool predictions" in capsys.readouterr().out  # round 2, same model
    retrain = config_for(world, "active.unit=frames", "active.initial_budget=4", "active.round_budget=3",
                         "active.rounds=3")
    assert [s.name for s in build_plan(retrain)] == ["init", "pretrain", "query", "retrain_2", "query_2",
                                                     "retrain_3", "query_3", "final", "evaluate"]


def test_full_supervision_and_a_report_of_two_runs(world, finished, tmp_path, capsys):
    run = tmp_path / "full"
    config = config_for(world, "pipeline.mode=full_supervision")
    assert [s.name for s in build_plan(config)] == ["init", "final", "evaluate"]
    run_pipeline(config, run, config_file="tiny", report=False)
    ledger = Ledger.load(run / "ledger.json")
    assert ledger.spent()["frames"] == 24 and ledger.fraction()["boxes"] == 1.0
    assert main(["report", str(finished), str(run), "--out", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "index.html").read_text()
    assert "cal + normal" in page and "full supervision" in page and "ap_vs_boxes.png" in page
    assert "class_mix.png" in page and "run0_round1_chosen.png" in page and "timings.png" in page
    for name in ("ap_vs_boxes.png", "class_mix.png", "run0_round1_chosen.png", "timings.png"):
        assert (tmp_path / "report" / name).read_bytes()[:4] == b"\x89PNG"
    assert "http" not in page and "<script" not in page  # opens from the file system, nothing to fetch
    chosen = json.loads((finished / "query" / "chosen_frames.json").read_text())
    bought = Ledger.load(finished / "ledger.json").rounds[1].frames
    assert [f["frame"] for f in chosen["frames"]] == bought[:2]


def test_paper_configs_carry_the_paper_values():
    kitti = load_config(ROOT / "configs" / "kitti" / "s_ssal.yaml")
    assert (kitti.active.initial_budget, kitti.active.round_budget, kitti.active.unit) == (200, 150, "boxes")
    assert kitti.active.cal.class_weights == [0.3, 1.1, 1.6] and kitti.active.strategy == "cal"
    assert kitti.pipeline.pretrain == "cpsp" and [s.name for s in build_plan(kitti)] == [
        "init", "pretrain", "cpsp", "query", "final", "final_cpsp", "evaluate"]
    waymo = load_config(ROOT / "configs" / "waymo" / "s_ssal.yaml")
    assert (waymo.active.initial_budget, waymo.active.round_budget) == (5000, 5000)
    assert waymo.active.cal.class_weights == [0.1, 0.2, 2.7] and waymo.pipeline.partner_nms_iou == 0.1
    for name in ("kitti/pillar_rcnn.yaml", "waymo/pillar_rcnn.yaml"):
        plain = load_config(ROOT / "configs" / name)
        assert plain.active.cal.class_weights is not None and plain.active.initial_budget in (200, 5000)
    assert load_config(ROOT / "configs" / "synthetic" / "s_ssal.yaml").pipeline.pretrain == "cpsp"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_process_torchrun_runs_the_pipeline(world, tmp_path):
    """The S-SSAL variant (CPSP's pool inference and database, the cascaded query) on two ranks: rank 0 alone
    gets ``predict``'s results, so every stage must work from what rank 0 wrote."""
    run = tmp_path / "run"
    overrides = [s for s in FAST if s != "pipeline.pretrain=normal"] + ["cpsp.epochs=1", "cpsp.repeat=1",
                                                                         "cpsp.final_repeat=1"]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", "-m", "ssal", "run", "--config", str(TINY), "--data-root", str(world),
               "--out", str(run), *sum((["--set", s] for s in overrides), [])]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    manifest = manifest_of(run)
    assert manifest["plan"] == ["init", "pretrain", "cpsp", "query", "final", "final_cpsp", "evaluate"]
    assert all(manifest["stages"][name]["status"] == "complete" for name in manifest["plan"])
    assert done.stdout.count("[4/7] query (starting)") == 1  # rank 0 speaks, rank 1 works silently
    assert manifest["stages"]["query"]["metrics"]["partner"] == "pretrain"  # the cascade ran on both ranks
    results = json.loads((run / "results.json").read_text())
    assert [m["stage"] for m in results["models"]] == ["pretrain", "cpsp", "final", "final_cpsp"]
    epochs = [json.loads(line) for line in (run / "final_cpsp" / "metrics.jsonl").read_text().splitlines()
              if '"kind": "epoch"' in line]
    assert epochs and not (run / "ssal.lock").exists()


def test_a_fresh_run_of_the_same_config_repeats_every_number(world, finished, tmp_path):
    again = tmp_path / "again"
    run_pipeline(config_for(world), again, config_file="tiny", report=False)
    first, second = (json.loads((r / "results.json").read_text()) for r in (finished, again))
    assert [m["checkpoint_sha256"] for m in first["models"]] == [m["checkpoint_sha256"] for m in second["models"]]
    assert [m["headline"] for m in first["models"]] == [m["headline"] for m in second["models"]]
    assert Ledger.load(finished / "ledger.json").labelled == Ledger.load(again / "ledger.json").labelled
