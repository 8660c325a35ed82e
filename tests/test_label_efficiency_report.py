"""The benchmark page (``ssal report --benchmark OUT``) from a ``results.json`` alone: the 2 x 2 ablation with
mean +- std over seeds, S-SSAL as a fraction of full supervision, per-class and per-tag tables, the pictures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssal.cli import main
from ssal.errors import SsalError
from ssal.report.benchmark import ablation_table, build_benchmark_report, group_entries, load_benchmark

CLASSES = ("Car", "Pedestrian", "Cyclist")


def row(entry, strategy, pretrain, scale, seed, value, boxes=350, bought=(10, 5, 3)):
    ap = {c: {"3d": [value + 5, value, value - 5], "bev": [value + 8, value + 3, value]} for c in CLASSES}
    ap["mean"] = ap["Car"]
    return {"entry": entry, "strategy": strategy, "pretrain": pretrain, "scale": scale, "seed": seed,
            "delivered": "final", "ap": ap, "map_moderate": value, "labelled_boxes": boxes, "labelled_frames": 40,
            "per_class_labelled": dict(zip(CLASSES, (250, 70, 30))), "bought_per_class": dict(zip(CLASSES, bought)),
            "bought_frames": 12, "denominator": {"boxes": 17298, "frames": 3712,
                                                 "per_class": dict(zip(CLASSES, (12000, 4000, 1298)))},
            "models": [], "by_tag": {"rain": {"frames": 7, "object_tag": False,
                                              "objects": dict(zip(CLASSES, (5, 1, 0))),
                                              "moderate_3d": {"Car": value, "Pedestrian": value / 2, "Cyclist": None}}},
            "wall_s": 600.0, "stage_wall_s": {"init": 1.0, "final": 599.0}}


@pytest.fixture
def results(tmp_path) -> Path:
    rows = []
    for seed, shift in ((0, 0.0), (1, 2.0)):
        rows += [row("s_ssal", "cal", "cpsp", 1, seed, 60 + shift),
                 row("cal_normal", "cal", "normal", 1, seed, 50 + shift),
                 row("random_cpsp", "random", "cpsp", 1, seed, 55 + shift),
                 row("random_normal", "random", "normal", 1, seed, 45 + shift),
                 row("full", "all labels", None, None, seed, 80 + shift, boxes=17298, bought=(0, 0, 0))]
    path = tmp_path / "bench" / "results.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"kind": "ssal-label-efficiency-results", "version": 1, "tier": "quick",
                                "world": "w", "pool_boxes": 17298, "initial_share": 200 / 17298,
                                "round_share": 150 / 17298, "schedule": "10 x 160", "entries": rows}))
    return path


def test_the_ablation_table_holds_mean_and_std_over_seeds(results):
    groups = group_entries(load_benchmark(results)["entries"])
    header, rows = ablation_table(groups, 1)
    assert header == ["", "random", "CAL"]
    assert rows[0] == ["normal pre-training", "46.00 ± 1.00 (n=2)", "51.00 ± 1.00 (n=2)"]
    assert rows[1] == ["cpsp pre-training", "56.00 ± 1.00 (n=2)", "61.00 ± 1.00 (n=2)"]


def test_the_page_shows_every_section_and_the_fraction_of_full_supervision(results, tmp_path):
    page = build_benchmark_report(results, tmp_path / "report")
    text = page.read_text()
    for title in ("AP against labelled boxes", "Every entry", "The 2 x 2 ablation", "Per class", "AP by world tag",
                  "Class mix bought", "S-SSAL as a fraction of full supervision"):
        assert title in text, title
    assert "61.00 ± 1.00 (n=2) = 75.3 % of full supervision" in text  # 61 / 81
    assert "convergence" not in text  # no convergence.json beside results.json
    assert (tmp_path / "report" / "ap_vs_boxes.png").stat().st_size > 1000
    assert (tmp_path / "report" / "class_mix.png").is_file()


def test_ssal_report_builds_it_from_the_benchmark_folder(results, tmp_path, capsys):
    assert main(["report", "--benchmark", str(results.parent), "--out", str(tmp_path / "page")]) == 0
    assert (tmp_path / "page" / "index.html").is_file()


def test_a_file_that_is_not_a_benchmark_result_is_refused(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"kind": "ssal-run-results"}))
    with pytest.raises(SsalError, match="not a label-efficiency results file"):
        load_benchmark(path)


def test_the_convergence_study_is_plotted_when_it_ran(results, tmp_path):
    points = [{"epochs": e, "samples": 160 * e, "map_moderate": m, "labelled_boxes": 35, "labelled_frames": 6}
              for e, m in ((5, 10.0), (10, 20.0), (20, 22.0))]
    (results.parent / "convergence.json").write_text(json.dumps({"points": points}))
    text = build_benchmark_report(results, tmp_path / "report").read_text()
    assert "Convergence of the smallest labelled set" in text and "<td>3200</td><td>22.00</td>" in text
    assert (tmp_path / "report" / "convergence.png").is_file()
