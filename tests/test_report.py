"""The report reads only what runs wrote: these tests write run folders by hand (no model runs) and check what
the page and its pictures show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssal.errors import SsalError
from ssal.report import build_report, load_run, summary_rows
from ssal.report.plots import curve_points

CLASSES = ["Car", "Pedestrian", "Cyclist"]


def kitti_metrics(value: float) -> dict:
    table = {"3d": {"R40": [value + 5, value, value - 5]}, "bev": {"R40": [value + 9, value + 4, value]}}
    return {**{c: table for c in CLASSES}, "mean": table, "loose": {"mean": table}}


def model(stage: str, round_index: int, boxes: int, value: float) -> dict:
    return {"stage": stage, "round": round_index, "checkpoint_sha256": "0" * 16,
            "metrics": f"eval/{stage}/metrics.json",
            "headline": {"name": "3D AP R40 moderate (mean over classes)", "value": value},
            "labelled": {"labelled_frames": boxes // 5, "labelled_boxes": boxes,
                         "per_class": {"Car": boxes, "Pedestrian": 0, "Cyclist": 0},
                         "fraction": {"boxes": boxes / 1000, "frames": 0.1}}}


def write_run(path: Path, strategy: str, pretrain: str, seed: int, models: list[dict], quality: dict | None = None,
              mode: str = "active") -> Path:
    path.mkdir(parents=True)
    for item in models:
        (path / "eval" / item["stage"]).mkdir(parents=True)
        (path / item["metrics"]).write_text(json.dumps(kitti_metrics(item["headline"]["value"])))
    (path / "results.json").write_text(json.dumps({
        "kind": "ssal-run-results", "version": 1, "format": "kitti", "split": "val", "mode": mode,
        "pretrain": pretrain, "strategy": strategy, "seed": seed, "pool": None, "models": models}))
    stages = {m["stage"]: {"status": "complete", "wall_s": 10.0, "notes": [], "metrics": {}} for m in models}
    if quality is not None:
        stages["cpsp"]["metrics"]["pseudo_label_quality"] = quality
    stages["query"] = {"status": "complete", "wall_s": 2.0, "notes": ["round 1: bought nothing: test"],
                       "metrics": {}}
    (path / "manifest.json").write_text(json.dumps({"kind": "ssal-run-manifest", "plan": list(stages),
                                                    "stages": stages}))
    rounds = [{"kind": "initial", "boxes_per_class": {"Car": 40, "Pedestrian": 5, "Cyclist": 0}},
              {"kind": "query", "boxes_per_class": {"Car": 20, "Pedestrian": 10, "Cyclist": 10}}]
    (path / "ledger.json").write_text(json.dumps({"dataset": {"classes": CLASSES}, "rounds": rounds,
                                                  "denominator": {"per_class": {"Car": 700, "Pedestrian": 200,
                                                                                "Cyclist": 100}}}))
    return path


QUALITY = {"kind": "ssal-cpsp-pseudo-label-quality", "rounds": [
    {"round": 0, "thresholds": {"Car": 0.61}, "classes": {"Car": {"pseudo": 91, "ground_truth": 625,
                                                                   "precision": 0.4615, "recall": 0.0672}}}]}


def test_each_labelled_set_is_represented_by_its_cpsp_model_where_one_exists(tmp_path):
    run = load_run(write_run(tmp_path / "a", "cal", "cpsp", 0, [
        model("pretrain", 0, 50, 10.0), model("cpsp", 0, 50, 14.0), model("final", 1, 100, 20.0),
        model("final_cpsp", 1, 100, 25.0)], QUALITY))
    assert curve_points(run) == [(50, 14.0, "cpsp"), (100, 25.0, "final_cpsp")]
    assert run.variant == "cal + cpsp"
    header, rows = summary_rows([run])
    assert [r[3] for r in rows] == ["pretrain", "cpsp", "final", "final_cpsp"] and rows[0][6] == pytest.approx(5.0)


def test_a_page_of_several_runs_with_seeds_quality_and_notes(tmp_path):
    runs = [write_run(tmp_path / f"cal{seed}", "cal", "cpsp", seed, [
                model("pretrain", 0, 50, 10.0 + seed), model("cpsp", 0, 50, 12.0 + seed),
                model("final", 1, 100, 20.0 + seed), model("final_cpsp", 1, 100, 24.0 + seed)], QUALITY)
            for seed in (0, 1)]
    runs.append(write_run(tmp_path / "random", "random", "normal", 0, [
        model("pretrain", 0, 50, 10.0), model("final", 1, 100, 15.0)]))
    runs.append(write_run(tmp_path / "full", "all labels", "cpsp", 0, [model("final", 0, 1000, 40.0)],
                          mode="full_supervision"))
    page = build_report(runs, tmp_path / "report").read_text()
    assert "cal + cpsp (seed 1, cal1)" in page and "random + normal" in page and "full supervision" in page
    assert "<td>0.46</td><td>0.07</td>" in page  # CPSP's precision and recall of round 0, Car
    assert "round 1: bought nothing: test" in page
    for name in ("ap_vs_boxes.png", "class_mix.png", "timings.png"):
        assert (tmp_path / "report" / name).read_bytes()[:4] == b"\x89PNG" and name in page


def test_a_run_that_was_not_evaluated_is_named(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text("{}")
    with pytest.raises(SsalError, match=r"results.json: missing: run `ssal run` to the evaluate stage first"):
        build_report([run], tmp_path / "report")
    with pytest.raises(SsalError, match=r"not a run folder of `ssal run`"):
        load_run(tmp_path)
