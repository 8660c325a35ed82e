"""A readable text table of a Waymo evaluation result (``ssal.eval.waymo.evaluate_waymo``)."""

from __future__ import annotations

from typing import Sequence


def format_waymo_table(metrics: dict, classes: Sequence[str]) -> str:
    """``evaluate_waymo``'s result as a table of AP and APH (percent) at LEVEL_1 and LEVEL_2."""
    lines = ["Waymo 3-D detection (percent)       LEVEL_1           LEVEL_2",
             f"{'class':<28}{'AP':>9}{'APH':>9}{'AP':>9}{'APH':>9}"]
    for name in [*classes, "mean"]:
        levels = metrics[name]
        values = "".join(f"{levels[level][metric]:>9.2f}" for level in ("LEVEL_1", "LEVEL_2")
                         for metric in ("AP", "APH"))
        lines.append(f"{name:<28}{values}")
    return "\n".join(lines)
