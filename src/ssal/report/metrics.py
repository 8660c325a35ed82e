"""The numbers a report shows, read from an evaluator's ``metrics.json``.

KITTI: AP in percent, ``{class: {"3d"|"bev"|"2d"|"aos": {"R11"|"R40": [easy, moderate, hard]}}, "mean": ...}``;
the headline is the class mean of 3-D AP at 40 recall positions, moderate (the paper's main number). Waymo:
``{class: {"LEVEL_1"|"LEVEL_2": {"AP", "APH"}}, "mean": ...}``; the headline is the mean LEVEL_2 APH.
"""

from __future__ import annotations

from ssal.eval.metrics_file import METADATA_KEY

__all__ = ["headline", "per_class_rows", "HEADLINE_NAMES"]

HEADLINE_NAMES = {"kitti": "3D AP R40 moderate (mean over classes)", "waymo": "LEVEL_2 APH (mean over classes)"}


def headline(metrics: dict, data_format: str) -> dict:
    """``{"name": ..., "value": float}`` of a model's metrics; KITTI adds ``loose``, the same number at the
    evaluator's loose overlaps (Car 0.5, others 0.25), which still separates the weak models of short runs."""
    if data_format == "waymo":
        return {"name": HEADLINE_NAMES["waymo"], "value": float(metrics["mean"]["LEVEL_2"]["APH"])}
    out = {"name": HEADLINE_NAMES["kitti"], "value": float(metrics["mean"]["3d"]["R40"][1])}
    if "loose" in metrics:
        out["loose"] = float(metrics["loose"]["mean"]["3d"]["R40"][1])
    return out


def per_class_rows(metrics: dict, data_format: str) -> tuple[list[str], list[list]]:
    """A table of ``metrics``: header and one row per class (and the mean)."""
    names = [k for k in metrics if k not in ("mean", "loose", "by_tag", METADATA_KEY)] + ["mean"]
    if data_format == "waymo":
        header = ["class", "L1 AP", "L1 APH", "L2 AP", "L2 APH"]
        rows = [[n] + [metrics[n][lv][m] for lv in ("LEVEL_1", "LEVEL_2") for m in ("AP", "APH")] for n in names]
        return header, rows
    header = ["class", "3D easy", "3D mod", "3D hard", "BEV easy", "BEV mod", "BEV hard"]
    rows = [[n] + list(metrics[n]["3d"]["R40"]) + list(metrics[n]["bev"]["R40"]) for n in names]
    return header, rows
