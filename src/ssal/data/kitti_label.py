"""KITTI label files (``label_2/*.txt``) and detection result files: one object per line.

Columns: type, truncated, occluded, alpha, bbox (left top right bottom, pixels), dimensions (height width length,
metres), location (x y z of the bottom centre in the rectified camera frame), rotation_y, and in result files a
16th column, the score. ``KittiLabels`` holds one file column by column; ``dimensions`` is stored in OpenPCDet's
order ``(l, h, w)`` so that ``location | dimensions | rotation_y`` is a camera box as ``ssal.geometry`` expects.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from ssal.data.text_files import read_text
from ssal.errors import SsalError, warn

KITTI_CLASSES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc", "DontCare")


@dataclass
class KittiLabels:
    """All objects of one label or result file, column by column (N objects)."""

    name: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="<U16"))
    truncated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    occluded: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    bbox: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.float64))
    dimensions: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.float64))  # l, h, w
    location: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.float64))
    rotation_y: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    score: np.ndarray | None = None  # (N,) in result files, None in ground-truth files

    def __len__(self) -> int:
        return len(self.name)

    def camera_boxes(self) -> np.ndarray:
        """(N, 7) camera boxes ``(x, y, z, l, h, w, ry)``, bottom centre."""
        return np.concatenate((self.location, self.dimensions, self.rotation_y[:, None]), axis=1)

    def select(self, mask: np.ndarray) -> "KittiLabels":
        """The objects where ``mask`` (bool or index array) holds."""
        return KittiLabels(
            name=self.name[mask], truncated=self.truncated[mask], occluded=self.occluded[mask],
            alpha=self.alpha[mask], bbox=self.bbox[mask], dimensions=self.dimensions[mask],
            location=self.location[mask], rotation_y=self.rotation_y[mask],
            score=None if self.score is None else self.score[mask],
        )


def parse_label_text(text: str, where: str | os.PathLike, with_score: bool | None = None) -> KittiLabels:
    """Parse label lines. ``with_score``: True requires 16 columns (results), False requires 15 (ground truth),
    None accepts either (a file must be consistent). Unknown class names are kept, with a warning."""
    rows, names, score_column = [], [], None
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        expected = {True: (16,), False: (15,), None: (15, 16)}[with_score]
        if len(fields) not in expected:
            columns = "type truncated occluded alpha bbox[4] h w l x y z rotation_y" + {
                True: " score", False: "", None: " [score]"}[with_score]
            raise SsalError(f"line {number} has {len(fields)} columns, expected "
                            f"{' or '.join(map(str, expected))} ({columns})", where)
        has_score = len(fields) == 16
        if score_column is None:
            score_column = has_score
        elif score_column != has_score:
            raise SsalError(f"line {number} has {len(fields)} columns but earlier lines have "
                            f"{16 if score_column else 15}", where)
        try:
            values = [float(value) for value in fields[1:]]
        except ValueError:
            bad = next(value for value in fields[1:] if not _is_float(value))
            raise SsalError(f"line {number}: {bad!r} is not a number", where) from None
        _check_values(fields[0], values, number, where, has_score)
        names.append(fields[0])
        rows.append(values)
    unknown = sorted(set(names) - set(KITTI_CLASSES))
    if unknown:
        warn(f"unknown class name(s) {', '.join(unknown)} kept as they are", where)
    # An empty result file still has a (empty) score column.
    return _columns(names, rows, bool(with_score) if score_column is None else score_column)


def read_label_file(path: str | os.PathLike, with_score: bool | None = None) -> KittiLabels:
    """Read one ``label_2`` or result file (see ``parse_label_text``)."""
    return parse_label_text(read_text(path, "label file"), path, with_score)


def format_label_lines(labels: KittiLabels) -> str:
    """KITTI text for ``labels`` (16 columns when it carries scores), the way KITTI's own files are written."""
    lines = []
    for i in range(len(labels)):
        l, h, w = labels.dimensions[i]
        values = [
            f"{labels.truncated[i]:.2f}", f"{int(labels.occluded[i])}", f"{labels.alpha[i]:.2f}",
            *(f"{v:.2f}" for v in labels.bbox[i]), f"{h:.2f}", f"{w:.2f}", f"{l:.2f}",
            *(f"{v:.2f}" for v in labels.location[i]), f"{labels.rotation_y[i]:.2f}",
        ]
        if labels.score is not None:
            values.append(f"{labels.score[i]:.4f}")
        lines.append(" ".join([str(labels.name[i])] + values))
    return "".join(line + "\n" for line in lines)


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _check_values(name: str, values: list[float], number: int, where, has_score: bool) -> None:
    if not all(math.isfinite(v) for v in values):
        raise SsalError(f"line {number}: NaN or infinite value", where)
    if name != "DontCare" and min(values[7:10]) < 0:
        raise SsalError(f"line {number}: negative box size (h w l = {values[7]:g} {values[8]:g} {values[9]:g})", where)
    if has_score and not math.isfinite(values[14]):
        raise SsalError(f"line {number}: score is not a finite number", where)


def _columns(names: list[str], rows: list[list[float]], has_score: bool) -> KittiLabels:
    table = np.asarray(rows, dtype=np.float64).reshape(len(rows), 15 if has_score else 14)
    return KittiLabels(
        name=np.asarray(names, dtype="<U16"),
        truncated=table[:, 0].copy(),
        occluded=table[:, 1].astype(np.int64),
        alpha=table[:, 2].copy(),
        bbox=table[:, 3:7].copy(),
        dimensions=table[:, [9, 7, 8]].copy(),  # file h w l -> l h w
        location=table[:, 10:13].copy(),
        rotation_y=table[:, 13].copy(),
        score=table[:, 14].copy() if has_score else None,
    )
