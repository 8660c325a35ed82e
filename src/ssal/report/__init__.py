"""The run report: ``RUN/report/index.html`` and ``ssal report RUN [RUN ...] --out DIR`` (runs side by side).

Built only from the JSON a run already wrote (``ssal.report.collect``), drawn with matplotlib
(``ssal.report.plots``): AP against labelled boxes per strategy and variant (mean +- std over seeds), per-class
tables, the class mix of the queried frames against the pool, bird's-eye views of the first chosen frames with
predictions and labels, pseudo-label quality when the CPSP stages measured it, and stage timings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ssal.atomic import atomic_write_text
from ssal.report import html as h
from ssal.report.collect import RunSummary, load_run
from ssal.report.metrics import headline, per_class_rows
from ssal.report.plots import plot_ap_vs_boxes, plot_chosen_frames, plot_class_mix, plot_timings

__all__ = ["build_report", "load_run", "headline", "summary_rows"]


def summary_rows(runs: Sequence[RunSummary]) -> tuple[list[str], list[list]]:
    """One row per model of every run: run, variant, stage, labelled boxes/frames, headline."""
    header = ["run", "variant", "seed", "model", "labelled boxes", "labelled frames", "% of pool boxes",
              runs[0].results["models"][0]["headline"]["name"] if runs else "AP"]
    loose = any("loose" in m["headline"] for r in runs for m in r.results["models"])
    if loose:  # KITTI: the same at the loose overlaps, which still tells weak models of short runs apart
        header.append("same, loose overlaps")
    rows = []
    for run in runs:
        for model in run.results["models"]:
            labelled = model["labelled"]
            share = labelled.get("fraction") or {}
            rows.append([run.path.name, run.variant, run.results.get("seed"), model["stage"],
                         labelled["labelled_boxes"], labelled["labelled_frames"],
                         100 * share["boxes"] if share else None, model["headline"]["value"]]
                        + ([model["headline"].get("loose")] if loose else []))
    return header, rows


def build_report(run_dirs: Sequence[str | Path], out: str | Path) -> Path:
    """Write ``out/index.html`` and its PNGs for the runs in ``run_dirs``; returns the page's path."""
    out = Path(out)
    runs = [load_run(d) for d in run_dirs]
    parts = [h.paragraph(f"{len(runs)} run(s): " + ", ".join(r.label for r in runs), "small")]
    parts.append(h.section("Results", h.table(*summary_rows(runs))))
    plot_ap_vs_boxes(runs, out / "ap_vs_boxes.png")
    parts.append(h.figure("ap_vs_boxes.png", "AP against labelled boxes, per strategy and pre-training"))
    if plot_class_mix(runs, out / "class_mix.png"):
        parts.append(h.section("Class mix of the queried frames",
                               h.figure("class_mix.png", "share of each class among the boxes bought by the "
                                                         "queries, against the whole pool")))
    for i, run in enumerate(runs):
        parts.append(_run_section(run, i, out))
    plot_timings(runs, out / "timings.png")
    parts.append(h.section("Stage timings", h.figure("timings.png", "wall time per stage"), _timing_table(runs)))
    title = "ssal run report" if len(runs) == 1 else f"ssal report: {len(runs)} runs"
    page = out / "index.html"
    atomic_write_text(page, h.page(title, parts))
    return page


def _run_section(run: RunSummary, index: int, out: Path) -> str:
    parts = []
    for model in run.results["models"]:
        header, rows = per_class_rows(run.metrics[model["stage"]], run.format)
        parts.append(h.paragraph(f"{model['stage']}: trained on {model['labelled']['labelled_boxes']} boxes "
                                 f"({model['labelled']['labelled_frames']} frames)", "small"))
        parts.append(h.table(header, rows))
    for chosen in run.chosen:
        name = f"run{index}_round{chosen.get('round')}_chosen.png"
        if plot_chosen_frames(chosen, out / name):
            parts.append(h.figure(name, f"first frames bought in round {chosen.get('round')}"))
    notes = [f"{stage}: {note}" for stage, record in run.manifest["stages"].items() for note in record.get("notes", [])]
    if notes:
        parts.append("".join(h.paragraph(n, "note") for n in notes))
    quality = [(stage, record["metrics"]["pseudo_label_quality"]) for stage, record in run.manifest["stages"].items()
               if isinstance(record.get("metrics", {}).get("pseudo_label_quality"), dict)]
    for stage, values in quality:
        parts.append(h.paragraph(f"{stage}: pseudo-label quality (pseudo objects against the pool's labels, "
                                 "measured after the run, never used by it)", "small"))
        parts.append(h.table(*_quality_table(values)))
    return h.section(f"{run.label}: per-class AP ({'R40, percent' if run.format == 'kitti' else 'percent'})",
                     *parts)


def _quality_table(values: dict) -> tuple[list[str], list[list]]:
    """Per database round and class: threshold, pseudo objects, precision, recall (CPSP's quality file); any other
    shape as key/value rows."""
    rounds = values.get("rounds")
    if not isinstance(rounds, list):
        return ["measure", "value"], _flat(values)
    rows = []
    for item in rounds:
        for name, stats in (item.get("classes") or {}).items():
            rows.append([item.get("round"), name, (item.get("thresholds") or {}).get(name), stats.get("pseudo"),
                         stats.get("ground_truth"), stats.get("precision"), stats.get("recall"),
                         stats.get("back_true_negative_rate")])
    return ["round", "class", "tau", "pseudo objects", "labels", "precision", "recall", "BACK true negatives"], rows


def _flat(values: dict, prefix: str = "") -> list[list]:
    rows = []
    for key, value in values.items():
        if isinstance(value, dict):
            rows.extend(_flat(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float, str)) or value is None:
            rows.append([f"{prefix}{key}", value])
    return rows


def _timing_table(runs: Sequence[RunSummary]) -> str:
    names = list(dict.fromkeys(name for r in runs for name in r.manifest["plan"]))
    rows = [[name] + [r.manifest["stages"].get(name, {}).get("wall_s") for r in runs] for name in names]
    rows.append(["total"] + [sum(s.get("wall_s", 0.0) for s in r.manifest["stages"].values()) for r in runs])
    return h.table(["stage (seconds)"] + [r.path.name for r in runs], rows)
