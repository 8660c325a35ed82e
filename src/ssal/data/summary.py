"""What a dataset holds, split by split: frames, points per frame, boxes per class and difficulty."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ssal.data.frame import FrameInfo

DIFFICULTY_NAMES = {0: "Easy", 1: "Moderate", 2: "Hard", -1: "none"}


@dataclass
class SplitSummary:
    split: str
    frames: int
    source: str  # where the labels came from: an info file or "raw files"
    points: np.ndarray  # points per frame (full scan, from the file sizes)
    boxes: dict[str, Counter] = field(default_factory=dict)  # class -> Counter(difficulty -> count)
    dontcare: int = 0
    unlabelled_frames: int = 0


def summarize_split(dataset, split: str, infos: list[FrameInfo], source: str) -> SplitSummary:
    points = np.array([_point_count(dataset.root / info.points_path, info.num_point_features) for info in infos])
    summary = SplitSummary(split=split, frames=len(infos), source=source, points=points)
    for info in infos:
        if info.annos is None:
            summary.unlabelled_frames += 1
            continue
        for name, level in zip(info.annos.name, info.annos.difficulty):
            summary.boxes.setdefault(str(name), Counter())[int(level)] += 1
        summary.dontcare += 0 if info.dontcare is None else len(info.dontcare)
    return summary


def format_summary(summaries: list[SplitSummary], classes: list[str] | None = None) -> str:
    lines = [f"{'split':<10}{'frames':>8}  {'points/frame min':>16} {'median':>9} {'max':>9}   labels from"]
    for s in summaries:
        low, mid, high = (np.min(s.points), np.median(s.points), np.max(s.points)) if s.frames else (0, 0, 0)
        lines.append(f"{s.split:<10}{s.frames:>8}  {low:>16,.0f} {mid:>9,.0f} {high:>9,.0f}   {s.source}")
    for s in summaries:
        if not s.boxes and not s.unlabelled_frames:
            continue
        lines += ["", f"boxes in split '{s.split}' by class and difficulty (exclusive levels; 'none' fails all three)"]
        lines.append(f"  {'class':<16}{'Easy':>8}{'Moderate':>10}{'Hard':>8}{'none':>8}{'total':>9}")
        names = list(classes) if classes else sorted(s.boxes, key=lambda n: -sum(s.boxes[n].values()))
        for name in names:
            counts = s.boxes.get(name, Counter())
            row = "".join(f"{counts[level]:>{w}}" for level, w in ((0, 8), (1, 10), (2, 8), (-1, 8)))
            lines.append(f"  {name:<16}{row}{sum(counts.values()):>9}")
        lines.append(f"  DontCare regions: {s.dontcare}" + (f"; frames without labels: {s.unlabelled_frames}"
                                                            if s.unlabelled_frames else ""))
    return "\n".join(lines)


def _point_count(path: os.PathLike, num_features: int) -> int:
    try:
        return os.path.getsize(path) // (4 * num_features)
    except OSError:
        return 0
