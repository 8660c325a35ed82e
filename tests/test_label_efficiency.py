"""``benchmarks/label_efficiency.py`` end to end on a 16-frame world with the tiny detector: the plan (shared
stages first, budgets scaled to the pool), two entries run to ``results.json`` and the page, and a second call
that resumes instead of training again."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from benchmark_scripts import load_benchmark


bench = load_benchmark("label_efficiency")


@pytest.fixture(scope="module")
def tier():
    test_tier = replace(bench.TIERS["smoke"], train_frames=16, val_frames=4, samples=4, cpsp_samples=4,
                        final_cpsp_samples=4, budget_factor=25.0)
    bench.TIERS["test"] = test_tier
    yield test_tier
    del bench.TIERS["test"]


def test_budgets_are_the_paper_shares_of_the_pool():
    assert bench.budgets(17298, 1) == (200, 150)
    assert bench.budgets(17298, 4) == (800, 600)
    assert bench.budgets(3000, 1) == (35, 26)


def test_the_plan_runs_the_shared_stages_first_and_the_others_adopt_them(tmp_path, tier):
    entries = [e for e in bench.ENTRIES if e.name in ("s_ssal", "random_cpsp", "crb_code", "full")]
    first, second = bench.plan_tasks(tmp_path, replace(tier, budget_factor=1.0), tmp_path / "world", entries,
                                     (0, 1), (1, 2), 17298)
    assert [(t.entry.name, t.scale, t.seed, t.until) for t in first] == [
        ("full", None, 0, None), ("s_ssal", 1, 0, "cpsp"), ("s_ssal", 2, 0, "cpsp"),
        ("full", None, 1, None), ("s_ssal", 1, 1, "cpsp"), ("s_ssal", 2, 1, "cpsp")]
    assert len(second) == 12
    crb = next(t for t in second if t.entry.name == "crb_code" and t.scale == 2 and t.seed == 1)
    assert crb.adopt == ("init", "pretrain") and crb.adopt_from.endswith("s_ssal/x2/seed1")
    assert "active.crb.per_class_grid=true" in crb.overrides and "active.initial_budget=400" in crb.overrides
    assert "pipeline.seed=1" in crb.overrides and "train.seed=1" in crb.overrides
    assert next(t for t in second if t.entry.name == "random_cpsp").adopt == ("init", "pretrain", "cpsp")
    # every entry trains on the same number of frame-samples, whatever its labelled set
    assert all("data.samples_per_epoch=4" in t.overrides for t in first + second)


def test_two_entries_end_to_end_then_resume(tmp_path, tier, capsys):
    out = tmp_path / "bench"
    argv = ["--tier", "test", "--out", str(out), "--only", "random_normal", "full"]
    assert bench.main(argv) == 0
    document = json.loads((out / "results.json").read_text())
    rows = {row["entry"]: row for row in document["entries"]}
    assert set(rows) == {"random_normal", "full"} and document["pool_boxes"] > 0
    active, full = rows["random_normal"], rows["full"]
    assert active["scale"] == 1 and active["seed"] == 0 and active["delivered"] == "final"
    assert set(active["ap"]) == {"Car", "Pedestrian", "Cyclist", "mean"}
    assert all(len(active["ap"][c][kind]) == 3 for c in active["ap"] for kind in ("3d", "bev"))
    initial, round_budget = bench.budgets(document["pool_boxes"], 25.0)
    assert active["labelled_boxes"] <= initial + round_budget and sum(active["bought_per_class"].values()) > 0
    assert full["labelled_boxes"] == full["denominator"]["boxes"] == document["pool_boxes"]
    assert active["by_tag"] and active["wall_s"] > 0 and active["adopted"] == ["init", "pretrain"]
    # random_normal adopted the donor's init and pretrain instead of training its own
    runs = out / "runs"
    donor = json.loads((runs / "s_ssal/x1/seed0/manifest.json").read_text())["stages"]
    mine = json.loads((runs / "random_normal/x1/seed0/manifest.json").read_text())["stages"]
    assert mine["pretrain"]["outputs"] == donor["pretrain"]["outputs"] and "cpsp" not in donor
    assert (out / "report" / "index.html").is_file()

    before = {p: p.stat().st_mtime_ns for p in runs.glob("**/ckpt/latest.pth")}
    capsys.readouterr()
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert "complete, skipped" in printed and "(starting)" not in printed
    assert {p: p.stat().st_mtime_ns for p in runs.glob("**/ckpt/latest.pth")} == before
