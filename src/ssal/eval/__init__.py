"""Evaluation: KITTI AP identical to the official devkit (2-D, BEV, 3-D, AOS; R11 and R40) and the Waymo Open
Dataset AP/APH at LEVEL_1 and LEVEL_2."""

from ssal.eval.kitti import evaluate_kitti
from ssal.eval.kitti_report import format_kitti_table
from ssal.eval.waymo import evaluate_waymo
from ssal.eval.waymo_report import format_waymo_table

__all__ = ["evaluate_kitti", "evaluate_waymo", "format_kitti_table", "format_waymo_table"]
