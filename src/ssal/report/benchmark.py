"""The label-efficiency benchmark's page (``ssal report --benchmark OUT``), built only from ``OUT/results.json``
as ``benchmarks/label_efficiency.py`` writes it: AP against labelled boxes per entry (mean +- std bands over the
seeds), the table of every entry with its ratio to full supervision, the paper's 2 x 2 ablation, per-class
tables, AP by world tag, the class mix bought, S-SSAL's mAP as a fraction of full supervision, and timings.

Numbers are the delivered model's (``final_cpsp`` where it ran, else ``final``) 3-D AP R40 Moderate in percent;
"mean +- std" is over the seeds present (std 0 with one seed, shown as such).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from ssal.atomic import atomic_write_text
from ssal.errors import SsalError
from ssal.json_file import read_json
from ssal.report import html as h
from ssal.report.plots import _pyplot, _save

__all__ = ["build_benchmark_report", "load_benchmark", "group_entries", "mean_std", "ablation_table"]

RESULTS_KIND = "ssal-label-efficiency-results"
ABLATION = {("random", "normal"): "random_normal", ("cal", "normal"): "cal_normal",
            ("random", "cpsp"): "random_cpsp", ("cal", "cpsp"): "s_ssal"}


def load_benchmark(path: str | Path) -> dict:
    path = Path(path)
    document = read_json(path, "missing: run benchmarks/label_efficiency.py first")
    if not isinstance(document, dict) or document.get("kind") != RESULTS_KIND:
        raise SsalError(f"not a label-efficiency results file (kind {RESULTS_KIND!r} expected)", path)
    return document


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std()), len(values)


def _pm(values: Sequence[float]) -> str:
    if not len(values):
        return ""
    mean, std, n = mean_std(values)
    return f"{mean:.2f} ± {std:.2f} (n={n})"


def group_entries(rows: Sequence[dict]) -> dict[tuple[str, int | None], list[dict]]:
    """``(entry, scale) -> rows`` (one per seed), entries in the order they appear."""
    groups: dict[tuple[str, int | None], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["entry"], row["scale"])].append(row)
    return dict(groups)


def _full(groups) -> list[float]:
    return [r["map_moderate"] for r in groups.get(("full", None), [])]


def ablation_table(groups, scale: int) -> tuple[list[str], list[list]]:
    """Rows: normal / CPSP pre-training; columns: random, CAL (mean +- std of mAP Moderate)."""
    rows = []
    for pretrain in ("normal", "cpsp"):
        cells = [_pm([r["map_moderate"] for r in groups.get((ABLATION[(s, pretrain)], scale), [])])
                 for s in ("random", "cal")]
        rows.append([f"{pretrain} pre-training"] + cells)
    return ["", "random", "CAL"], rows


def build_benchmark_report(results: str | Path, out: str | Path) -> Path:
    """Write ``out/index.html`` and its pictures from a benchmark's ``results.json``; returns the page."""
    document, out = load_benchmark(results), Path(out)
    rows = document["entries"]
    groups = group_entries(rows)
    scales = sorted({r["scale"] for r in rows if r["scale"] is not None})
    parts = [h.paragraph(f"tier {document['tier']}; world {document['world']}; pool {document['pool_boxes']} "
                         f"Car/Pedestrian/Cyclist boxes; budget x1 = {100 * document['initial_share']:.3f} % initial "
                         f"+ {100 * document['round_share']:.3f} % queried (the paper's 200 + 150 of KITTI's 17,298); "
                         f"schedule: {document['schedule']}.", "small")]
    if not rows:
        parts.append(h.paragraph("no finished entry yet", "note"))
    else:
        _plot_curves(groups, out / "ap_vs_boxes.png")
        parts.append(h.section("AP against labelled boxes", h.figure(
            "ap_vs_boxes.png", "delivered model, mean ± std over seeds (band); full supervision dashed")))
        parts.append(h.section("Every entry", h.table(*_entry_table(groups))))
        parts.append(_fraction_section(groups, scales))
        parts.append(h.section("The 2 x 2 ablation (mAP 3-D R40 Moderate)",
                               *[h.paragraph(f"budget x{s}", "small") + h.table(*ablation_table(groups, s))
                                 for s in scales]))
        parts.append(h.section("Per class (3-D / BEV AP R40 Moderate, mean over seeds)",
                               h.table(*_per_class_table(groups))))
        tags = _tag_table(groups, scales[0] if scales else None)
        if tags is not None:
            parts.append(h.section(f"AP by world tag (budget x{scales[0] if scales else '-'}; 3-D AP R40 Moderate, "
                                   "mean over the classes with objects of the tag, mean over seeds)", h.table(*tags)))
        if _plot_class_mix(groups, rows, out / "class_mix.png"):
            parts.append(h.section("Class mix bought by the queries", h.figure(
                "class_mix.png", "share of each class among the queried boxes (all seeds), against the pool")))
        parts.append(h.section("Wall time (minutes, mean over seeds)", h.paragraph(
            "own stages: without the stages adopted from the S-SSAL entry of the same budget and seed (their "
            "times are the donor's, shown per stage)", "small"), h.table(*_timing_table(groups))))
    convergence = Path(results).parent / "convergence.json"
    if convergence.is_file():
        parts.append(_convergence_section(json.loads(convergence.read_text()).get("points", []), out))
    page = out / "index.html"
    atomic_write_text(page, h.page("ssal label-efficiency benchmark", parts))
    return page


def _convergence_section(points: list[dict], out: Path) -> str:
    """AP of the smallest labelled set (x1, seed 0) against the length of its schedule."""
    if not points:
        return h.section("Convergence", h.paragraph("no convergence run finished yet", "small"))
    points = sorted(points, key=lambda p: p["samples"])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p["samples"] for p in points], [p["map_moderate"] for p in points], marker="o")
    ax.set_xlabel("frame-samples of the supervised training")
    ax.set_ylabel("mAP 3-D R40 Moderate (%)")
    ax.set_title(f"the x1 initial set ({points[0]['labelled_boxes']} boxes, {points[0]['labelled_frames']} frames)")
    ax.grid(alpha=0.3)
    _save(fig, out / "convergence.png")
    rows = [[p["epochs"], p["samples"], p["map_moderate"]] for p in points]
    return h.section("Convergence of the smallest labelled set", h.figure(
        "convergence.png", "separate trainings from scratch, one per schedule length"),
        h.table(["epochs", "frame-samples", "mAP 3-D mod"], rows))


def _entry_table(groups) -> tuple[list[str], list[list]]:
    full = _full(groups)
    full_mean = np.mean(full) if full else None
    header = ["entry", "budget", "seeds", "mAP 3-D mod (mean ± std)", "% of full supervision", "labelled boxes",
              "% of pool boxes", "labelled frames", "frames bought"]
    table = []
    for (entry, scale), members in groups.items():
        values = [r["map_moderate"] for r in members]
        share = np.mean([r["labelled_boxes"] / max(1, r["denominator"]["boxes"]) for r in members])
        table.append([entry, "all" if scale is None else f"x{scale}", len(members), _pm(values),
                      100 * np.mean(values) / full_mean if full_mean else None,
                      np.mean([r["labelled_boxes"] for r in members]), 100 * share,
                      np.mean([r["labelled_frames"] for r in members]),
                      np.mean([r["bought_frames"] for r in members])])
    return header, table


def _fraction_section(groups, scales) -> str:
    full = _full(groups)
    lines = []
    for scale in scales:
        s_ssal = groups.get(("s_ssal", scale))
        if not s_ssal or not full:
            continue
        values = [r["map_moderate"] for r in s_ssal]
        boxes = np.mean([r["labelled_boxes"] / max(1, r["denominator"]["boxes"]) for r in s_ssal])
        ratio = f"{100 * np.mean(values) / np.mean(full):.1f} %" if np.mean(full) > 0 else "n/a (full supervision 0)"
        lines.append(h.paragraph(f"budget x{scale}: S-SSAL {_pm(values)} = {ratio} of full supervision "
                                 f"({_pm(full)}) with {100 * boxes:.2f} % of the pool's boxes"))
    if not lines:
        lines.append(h.paragraph("needs the s_ssal and full entries", "small"))
    return h.section("S-SSAL as a fraction of full supervision", *lines)


def _classes(groups) -> list[str]:
    first = next(iter(groups.values()))[0]
    return [c for c in first["ap"] if c != "mean"]


def _per_class_table(groups) -> tuple[list[str], list[list]]:
    classes = _classes(groups)
    header = ["entry", "budget"] + [f"{c} {kind}" for c in classes for kind in ("3-D", "BEV")]
    table = []
    for (entry, scale), members in groups.items():
        cells = [float(np.mean([r["ap"][c][kind][1] for r in members])) for c in classes for kind in ("3d", "bev")]
        table.append([entry, "all" if scale is None else f"x{scale}"] + cells)
    return header, table


def _tag_table(groups, scale) -> tuple[list[str], list[list]] | None:
    chosen = [(key, members) for key, members in groups.items() if key[1] in (scale, None)
              and any(r.get("by_tag") for r in members)]
    if not chosen:
        return None
    tags = sorted({t for _, members in chosen for r in members for t in r.get("by_tag", {})})
    header = ["tag", "frames"] + [entry for (entry, _), _ in chosen]
    table = []
    for tag in tags:
        row, frames = [tag], None
        for _, members in chosen:
            values = []
            for r in members:
                item = r.get("by_tag", {}).get(tag)
                if item is None:
                    continue
                frames = item["frames"]
                present = [v for v in item["moderate_3d"].values() if v is not None]
                if present:
                    values.append(float(np.mean(present)))
            row.append(float(np.mean(values)) if values else None)
        table.append([row[0], frames] + row[1:])
    return header, table


def _timing_table(groups) -> tuple[list[str], list[list]]:
    stages = list(dict.fromkeys(s for members in groups.values() for r in members for s in r["stage_wall_s"]))
    header = ["entry", "budget", "own stages"] + stages
    table = []
    for (entry, scale), members in groups.items():
        cells = [np.mean([(r["stage_wall_s"].get(s) or 0.0) for r in members]) / 60 for s in stages]
        table.append([entry, "all" if scale is None else f"x{scale}", np.mean([r["wall_s"] for r in members]) / 60]
                     + cells)
    return header, table


def _plot_curves(groups, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    curves: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for (entry, scale), members in groups.items():
        if scale is None:
            continue
        mean, std, _ = mean_std([r["map_moderate"] for r in members])
        curves[entry].append((float(np.mean([r["labelled_boxes"] for r in members])), mean, std))
    for entry, points in curves.items():
        x, y, s = (np.array(v) for v in zip(*sorted(points)))
        style = {"linewidth": 2.5} if entry == "s_ssal" else {}
        line, = ax.plot(x, y, marker="o", label=entry, **style)
        ax.fill_between(x, y - s, y + s, color=line.get_color(), alpha=0.15)
    full = _full(groups)
    if full:
        mean, std, n = mean_std(full)
        ax.axhline(mean, linestyle="--", color="black", label=f"full supervision ({n} seed(s))")
        ax.axhspan(mean - std, mean + std, color="black", alpha=0.08)
    ax.set_xlabel("labelled boxes (initial + queried)")
    ax.set_ylabel("mAP 3-D R40 Moderate (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def _plot_class_mix(groups, rows, path: Path) -> Path | None:
    queried = [(entry, members) for (entry, scale), members in groups.items()
               if scale is not None and any(sum(r["bought_per_class"].values()) for r in members)]
    if not queried:
        return None
    classes = list(rows[0]["denominator"]["per_class"])
    bars = [("pool", [rows[0]["denominator"]["per_class"][c] for c in classes])]
    totals: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(classes)))
    for entry, members in queried:
        for r in members:
            totals[entry] += [r["bought_per_class"][c] for c in classes]
    bars += list(totals.items())
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(bars)
    for i, (label, counts) in enumerate(bars):
        share = np.asarray(counts, dtype=float) / max(1.0, float(np.sum(counts)))
        ax.bar(np.arange(len(classes)) + i * width, 100 * share, width, label=label,
               color="lightgray" if i == 0 else None, edgecolor="black" if i == 0 else None)
    ax.set_xticks(np.arange(len(classes)) + 0.4 - width / 2, classes)
    ax.set_ylabel("% of boxes")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)
