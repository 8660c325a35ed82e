"""Evaluation: KITTI AP identical to the official devkit (2-D, BEV, 3-D, AOS; R11 and R40) and the Waymo Open
Dataset AP/APH at LEVEL_1 and LEVEL_2; KITTI AP broken down by the tags of a tagged dataset."""

from ssal.eval.kitti import evaluate_kitti
from ssal.eval.kitti_report import format_kitti_table
from ssal.eval.tags import evaluate_kitti_by_tag
from ssal.eval.waymo import evaluate_waymo
from ssal.eval.waymo_report import format_waymo_table

__all__ = ["evaluate_kitti", "evaluate_kitti_by_tag", "evaluate_waymo", "format_kitti_table", "format_waymo_table"]
