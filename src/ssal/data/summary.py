"""What a dataset holds, split by split: frames, points per frame, boxes per class and difficulty."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ssal.data.frame import FrameInfo
from ssal.data.point_file import count_points

# The difficulty columns of each dataset: (level, heading), and what the levels mean.
LEVEL_COLUMNS = {
    "kitti": (((0, "Easy"), (1, "Moderate"), (2, "Hard"), (-1, "none")),
              "exclusive levels; 'none' fails all three"),
    "waymo": (((1, "LEVEL_1"), (2, "LEVEL_2")), "LEVEL_2: labelled so or <= 5 points"),
}


@dataclass
class SplitSummary:
    split: str
    frames: int
    source: str  # where the labels came from: an info file or "raw files"
    points: np.ndarray  # points per frame (full scan, from the file sizes)
    boxes: dict[str, Counter] = field(default_factory=dict)  # class -> Counter(difficulty -> count)
    dontcare: int = 0
    unlabelled_frames: int = 0
    dataset: str = "kitti"  # which difficulty levels the boxes carry (``LEVEL_COLUMNS``)


def summarize_split(dataset, split: str, infos: list[FrameInfo], source: str) -> SplitSummary:
    counter = getattr(dataset, "count_points", None)  # the reader knows its point files; else headerless float32
    points = np.array([counter(info) if counter else count_points(dataset.root / info.points_path,
                                                                  info.num_point_features) for info in infos])
    summary = SplitSummary(split=split, frames=len(infos), source=source, points=points,
                           dataset=getattr(dataset, "name", "kitti"))
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
        levels, meaning = LEVEL_COLUMNS.get(s.dataset, LEVEL_COLUMNS["kitti"])
        lines += ["", f"boxes in split '{s.split}' by class and difficulty ({meaning})"]
        widths = [max(8, len(heading) + 2) for _, heading in levels]
        header = "".join(f"{heading:>{w}}" for (_, heading), w in zip(levels, widths))
        lines.append(f"  {'class':<16}{header}{'total':>9}")
        names = list(classes) if classes else sorted(s.boxes, key=lambda n: -sum(s.boxes[n].values()))
        for name in names:
            counts = s.boxes.get(name, Counter())
            row = "".join(f"{counts[level]:>{w}}" for (level, _), w in zip(levels, widths))
            lines.append(f"  {name:<16}{row}{sum(counts.values()):>9}")
        notes = [f"DontCare regions: {s.dontcare}"] if s.dataset == "kitti" else []
        notes += [f"frames without labels: {s.unlabelled_frames}"] if s.unlabelled_frames else []
        if notes:
            lines.append("  " + "; ".join(notes))
    return "\n".join(lines)

