"""The report's pictures (matplotlib, Agg backend): AP against labelled boxes, class mix, BEV views, timings."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from ssal.report.collect import RunSummary

__all__ = ["plot_ap_vs_boxes", "plot_class_mix", "plot_chosen_frames", "plot_timings", "curve_points"]

CLASS_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curve_points(run: RunSummary) -> list[tuple[float, float, str]]:
    """(labelled boxes, headline, stage) of the model each labelled set delivers: CPSP's where it ran (it starts
    from the supervised model of the same labels), else the supervised one."""
    best: dict[int, dict] = {}
    for model in run.results["models"]:
        current = best.get(model["round"])
        if current is None or model["stage"] in ("cpsp", "final_cpsp"):
            best[model["round"]] = model
    return [(m["labelled"]["labelled_boxes"], m["headline"]["value"], m["stage"]) for _, m in sorted(best.items())]


def plot_ap_vs_boxes(runs: Sequence[RunSummary], path: Path) -> Path:
    """One line per variant (mean +- std over its seeds), full supervision as a dashed level."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups: dict[str, list[RunSummary]] = defaultdict(list)
    for run in runs:
        groups[run.variant].append(run)
    for variant, members in sorted(groups.items()):
        curves = [curve_points(r) for r in members]
        if variant == "full supervision":
            values = [c[-1][1] for c in curves]
            ax.axhline(np.mean(values), linestyle="--", color="black",
                       label=f"full supervision ({int(np.mean([c[-1][0] for c in curves]))} boxes)")
            continue
        length = min(len(c) for c in curves)
        x = np.array([[c[i][0] for i in range(length)] for c in curves], dtype=float)
        y = np.array([[c[i][1] for i in range(length)] for c in curves], dtype=float)
        label = variant + (f" (mean ± std of {len(members)} seeds)" if len(members) > 1 else "")
        ax.errorbar(x.mean(0), y.mean(0), yerr=y.std(0) if len(members) > 1 else None, marker="o", capsize=3,
                    label=label)
    ax.set_xlabel("labelled boxes")
    ax.set_ylabel(runs[0].results["models"][0]["headline"]["name"] if runs else "AP")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_class_mix(runs: Sequence[RunSummary], path: Path) -> Path | None:
    """Share of each class among the boxes of the frames the queries bought, beside the pool's share."""
    queried = [r for r in runs if any(x["kind"] == "query" for x in r.ledger["rounds"])]
    if not queried:
        return None
    plt = _pyplot()
    classes = list(queried[0].ledger["dataset"]["classes"])
    pool = queried[0].ledger["denominator"]["per_class"]
    bars = [("pool", [pool[c] for c in classes])]
    for run in queried:
        counts = [sum(x["boxes_per_class"][c] for x in run.ledger["rounds"] if x["kind"] == "query") for c in classes]
        bars.append((run.label, counts))
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(bars)
    for i, (label, counts) in enumerate(bars):
        share = np.asarray(counts, dtype=float) / max(1, sum(counts))
        ax.bar(np.arange(len(classes)) + i * width, 100 * share, width, label=label,
               color="lightgray" if i == 0 else None, edgecolor="black" if i == 0 else None)
    ax.set_xticks(np.arange(len(classes)) + 0.4 - width / 2, classes)
    ax.set_ylabel("% of boxes")
    ax.set_title("class mix of the queried frames against the pool")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_chosen_frames(chosen: dict, path: Path) -> Path | None:
    """Bird's-eye views of the first frames a query bought: points, predictions (red, alpha = score), labels
    (green, known once bought)."""
    frames = chosen.get("frames") or []
    if not frames:
        return None
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    cols = min(len(frames), 2)
    rows = math.ceil(len(frames) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 5 * rows), squeeze=False)
    x0, y0, _, x1, y1, _ = chosen["range"]
    for ax, frame in zip(axes.flat, frames):
        points = np.asarray(frame["points"], dtype=float).reshape(-1, 2)
        ax.scatter(points[:, 1], points[:, 0], s=0.3, c="gray")
        for item, colour in [(p, "red") for p in frame["predictions"]] + [(g, "green") for g in frame["labels"]]:
            x, y, _, dx, dy, _, heading = item["box"]
            alpha = max(0.15, item.get("score", 1.0))
            # Page axes: right = -y, up = x (forward). The unrotated patch has its length (dx) pointing up, i.e.
            # along heading 0; rotating it counter-clockwise by the heading turns it to (-sin, cos) = the box's axis.
            ax.add_patch(Rectangle((-y - dy / 2, x - dx / 2), dy, dx, angle=math.degrees(heading),
                                   rotation_point="center", fill=False, edgecolor=colour, alpha=alpha, linewidth=1))
        ax.set_xlim(-y1, -y0)
        ax.set_ylim(x0, x1)
        ax.set_aspect("equal")
        ax.set_title(f"frame {frame['frame']}: {len(frame['labels'])} labels, "
                     f"{sum(p['score'] >= 0.3 for p in frame['predictions'])} predictions >= 0.3", fontsize=9)
    for ax in list(axes.flat)[len(frames):]:
        ax.axis("off")
    fig.suptitle(f"round {chosen.get('round')}: first frames bought (red: predictions, green: labels)")
    return _save(fig, path)


def plot_timings(runs: Sequence[RunSummary], path: Path) -> Path:
    """Wall time of each stage, one bar per run, stacked by stage."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(runs) + 1.5))
    names = list(dict.fromkeys(name for r in runs for name in r.manifest["plan"]))
    left = np.zeros(len(runs))
    for name in names:
        width = np.array([r.manifest["stages"].get(name, {}).get("wall_s", 0.0) for r in runs]) / 60.0
        ax.barh(np.arange(len(runs)), width, left=left, label=name)
        left += width
    ax.set_yticks(np.arange(len(runs)), [r.label for r in runs], fontsize=7)
    ax.set_xlabel("minutes")
    ax.legend(fontsize=7, ncol=min(len(names), 7), loc="upper center", bbox_to_anchor=(0.5, -0.35))
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    from ssal.atomic import atomic_open

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as handle:
        fig.savefig(handle, format="png", dpi=90, bbox_inches="tight")
    _pyplot().close(fig)
    return path
