"""The rules of the official KITTI object evaluation (``evaluate_object_3d_offline.cpp``): difficulty filters,
which ground truth and detections count, ignored or are left out, and the minimum overlaps.

For a class and a difficulty every ground truth object gets a state: 0 "valid" (the class, passing the filter;
counted in the recall denominator), 1 "ignored" (the neighbouring class, or the class failing the filter: a
detection matched to it is neither a true nor a false positive) or -1 "left out" (any other class; never
matched). Detections get 0 (the class, tall enough), 1 (any class at all whose 2-D box is too short: it may
absorb a match but never counts) or -1 (another class). The comparisons are the devkit's, exactly:

* ground truth fails the filter if ``occluded > max_occlusion`` or ``truncated > max_truncation`` or
  ``bottom - top < min_height`` (a box exactly 40 px high is Easy; no ``+ 1``). The widely used Python port
  (``kitti_object_eval_python``) writes ``<=`` here, so a box exactly at 40/25 px differs between the two;
* a detection is too short if ``int(|top - bottom|) < min_height`` (the devkit keeps the height in an
  ``int32_t``; against whole-pixel limits that is the same as comparing the exact height);
* class names compare case-insensitively.
"""

from __future__ import annotations

import numpy as np

DIFFICULTIES = ("easy", "moderate", "hard")
MIN_HEIGHT = (40, 25, 25)  # pixels, per difficulty
MAX_OCCLUSION = (0, 1, 2)
MAX_TRUNCATION = (0.15, 0.30, 0.50)

# The neighbouring class whose ground truth is ignored (not missed) when evaluating a class.
NEIGHBOUR_CLASS = {"car": "van", "pedestrian": "person_sitting"}

METRICS = ("2d", "bev", "3d")
# Minimum overlap (strictly greater than) per metric and class; "strict" is the official table, "loose" the
# second table OpenPCDet prints (AP@0.70/0.50/0.50 for Car, 0.50/0.25/0.25 for Pedestrian and Cyclist).
MIN_OVERLAP = {
    "strict": {
        "2d": {"car": 0.7, "pedestrian": 0.5, "cyclist": 0.5, "van": 0.7, "person_sitting": 0.5, "truck": 0.7},
        "bev": {"car": 0.7, "pedestrian": 0.5, "cyclist": 0.5, "van": 0.7, "person_sitting": 0.5, "truck": 0.7},
        "3d": {"car": 0.7, "pedestrian": 0.5, "cyclist": 0.5, "van": 0.7, "person_sitting": 0.5, "truck": 0.7},
    },
    "loose": {
        "2d": {"car": 0.7, "pedestrian": 0.5, "cyclist": 0.5, "van": 0.7, "person_sitting": 0.5, "truck": 0.7},
        "bev": {"car": 0.5, "pedestrian": 0.25, "cyclist": 0.25, "van": 0.5, "person_sitting": 0.25, "truck": 0.5},
        "3d": {"car": 0.5, "pedestrian": 0.25, "cyclist": 0.25, "van": 0.5, "person_sitting": 0.25, "truck": 0.5},
    },
}
EVALUABLE_CLASSES = tuple(MIN_OVERLAP["strict"]["3d"])

VALID, IGNORED, LEFT_OUT = 0, 1, -1


def ground_truth_states(
    names: np.ndarray, bbox: np.ndarray, occluded: np.ndarray, truncated: np.ndarray, cls: str, difficulty: int
) -> np.ndarray:
    """State (G,) int8 of ground truth objects for class ``cls`` (lower case) at difficulty 0/1/2.

    Args:
        names: (G,) lower-case class names; bbox: (G, 4) left top right bottom; occluded: (G,) int;
        truncated: (G,) float.
    """
    height = bbox[:, 3] - bbox[:, 1]
    fails = (
        (occluded > MAX_OCCLUSION[difficulty])
        | (truncated > MAX_TRUNCATION[difficulty])
        | (height < MIN_HEIGHT[difficulty])
    )
    of_class = names == cls
    neighbour = names == NEIGHBOUR_CLASS.get(cls, "\0")
    states = np.full(len(names), LEFT_OUT, dtype=np.int8)
    states[neighbour | (of_class & fails)] = IGNORED
    states[of_class & ~fails] = VALID
    return states


def detection_states(names: np.ndarray, bbox: np.ndarray, cls: str, difficulty: int) -> np.ndarray:
    """State (D,) int8 of detections (lower-case names (D,), boxes (D, 4)) for class ``cls`` at a difficulty."""
    states = np.where(names == cls, VALID, LEFT_OUT).astype(np.int8)
    states[detection_pixel_height(bbox) < MIN_HEIGHT[difficulty]] = IGNORED
    return states


def detection_pixel_height(bbox: np.ndarray) -> np.ndarray:
    """(D,) whole-pixel heights of detection boxes, truncated toward zero as the devkit's ``int32_t`` does."""
    return np.trunc(np.abs(bbox[:, 1] - bbox[:, 3]))


def is_dontcare(names: np.ndarray) -> np.ndarray:
    """(G,) bool: DontCare regions (lower-case names)."""
    return names == "dontcare"
