"""A readable text table of a KITTI evaluation result (``ssal.eval.kitti.evaluate_kitti``)."""

from __future__ import annotations

from ssal.eval.kitti_protocol import METRICS, MIN_OVERLAP

_METRIC_ORDER = ("3d", "bev", "2d", "aos")


def format_kitti_table(result: dict) -> str:
    """The result as a table: one row per class and metric, Easy/Moderate/Hard under R40 and R11, mean last;
    the loose-threshold table follows when present."""
    lines = [_table(result, "strict", "KITTI AP (official overlaps)")]
    if "loose" in result:
        lines += ["", _table(result["loose"], "loose", "KITTI AP (loose overlaps)")]
    return "\n".join(lines)


def _table(result: dict, table: str, title: str) -> str:
    header = f"{'class':<16}{'metric':<7}{'overlap':>8} | {'R40 easy':>9}{'mod':>7}{'hard':>7} | " \
             f"{'R11 easy':>9}{'mod':>7}{'hard':>7}"
    rows = [title, header, "-" * len(header)]
    for label, metrics in result.items():
        if label == "loose":
            continue
        for metric in _METRIC_ORDER:
            if metric not in metrics:
                continue
            r40, r11 = metrics[metric]["R40"], metrics[metric]["R11"]
            name = label if metric == next(m for m in _METRIC_ORDER if m in metrics) else ""
            rows.append(
                f"{name:<16}{metric:<7}{_overlap(label, metric, table):>8} | {r40[0]:9.2f}{r40[1]:7.2f}{r40[2]:7.2f} | "
                f"{r11[0]:9.2f}{r11[1]:7.2f}{r11[2]:7.2f}"
            )
    return "\n".join(rows)


def _overlap(label: str, metric: str, table: str) -> str:
    """The minimum overlap used for a class and metric ('' for the mean; AOS uses the 2-D matching)."""
    metric = "2d" if metric == "aos" else metric
    value = MIN_OVERLAP[table][metric].get(label.lower()) if metric in METRICS else None
    return "" if value is None else f">{value:.2f}"
