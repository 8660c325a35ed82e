"""The realism check: statistics of a synthetic dataset beside those of real KITTI frames.

Both folders are read the same way, through ``ssal.data.kitti.KittiDataset`` (so the check also proves that the
synthetic files read as KITTI). ``compare_text`` prints, side by side: points per frame, points in the camera
field of view, points per object by distance, class mix, difficulty and occlusion mix, box sizes per class and
intensity; ``bev_figure`` draws one frame of each from above with its ground-truth boxes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ssal.data.synthetic.pictures import save_figure
from ssal.errors import SsalError

TARGETS = ("Car", "Pedestrian", "Cyclist")
OTHERS = ("Van", "Truck", "Tram", "Misc", "Person_sitting")
DISTANCE_BINS = ((0, 10), (10, 20), (20, 40), (40, 70))
DIFFICULTIES = ((0, "Easy"), (1, "Moderate only"), (2, "Hard only"), (-1, "none"))


@dataclass
class DatasetStats:
    """Per-frame and per-object facts of a KITTI-layout dataset (target classes and the other labelled ones)."""

    root: Path
    frame_ids: list[str] = field(default_factory=list)
    points: list[int] = field(default_factory=list)
    fov_points: list[int] = field(default_factory=list)
    dontcare: list[int] = field(default_factory=list)
    zero_intensity: list[float] = field(default_factory=list)
    mean_intensity: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    frame_of: list[int] = field(default_factory=list)
    distance: list[float] = field(default_factory=list)
    object_points: list[int] = field(default_factory=list)
    difficulty: list[int] = field(default_factory=list)
    occluded: list[int] = field(default_factory=list)
    truncated: list[float] = field(default_factory=list)
    dimensions: list[np.ndarray] = field(default_factory=list)  # (l, w, h) per object


def frame_ids_of(dataset) -> list[str]:
    """Every labelled frame: ``trainval`` when listed, else ``train`` then ``val``."""
    splits = dataset.available_splits()
    if "trainval" in splits:
        return dataset.split_ids("trainval")
    ids: list[str] = []
    for split in ("train", "val"):
        if split in splits:
            ids += [i for i in dataset.split_ids(split) if i not in ids]
    if not ids:
        raise SsalError("no ImageSets/train.txt, val.txt or trainval.txt to take frames from", dataset.root)
    return ids


def collect(root: str | os.PathLike, max_frames: int | None = None) -> DatasetStats:
    """Read a KITTI-layout folder's labelled frames (the first ``max_frames`` of them) into ``DatasetStats``."""
    from ssal.data.kitti import KittiDataset

    dataset = KittiDataset(root, fov_crop=False)
    stats = DatasetStats(root=Path(root))
    ids = frame_ids_of(dataset)[:max_frames]
    for index, frame_id in enumerate(ids):
        info = dataset.read_info(frame_id)
        points = dataset.load_points(info, fov_only=False)
        in_view = info.calib.fov_mask(points, info.image_shape)
        stats.frame_ids.append(frame_id)
        stats.points.append(len(points))
        stats.fov_points.append(int(in_view.sum()))
        stats.dontcare.append(len(info.dontcare) if info.dontcare is not None else 0)
        stats.zero_intensity.append(float((points[:, 3] == 0).mean()) if len(points) else 0.0)
        stats.mean_intensity.append(float(points[:, 3].mean()) if len(points) else 0.0)
        annos = info.annos
        for k in range(len(annos)):
            stats.names.append(str(annos.name[k]))
            stats.frame_of.append(index)
            stats.distance.append(float(np.hypot(*annos.gt_boxes_lidar[k, :2])))
            stats.object_points.append(int(annos.num_points_in_gt[k]))
            stats.difficulty.append(int(annos.difficulty[k]))
            stats.occluded.append(int(annos.occluded[k]))
            stats.truncated.append(float(annos.truncated[k]))
            stats.dimensions.append(annos.gt_boxes_lidar[k, 3:6].astype(np.float64))
    return stats


def compare_text(synthetic: DatasetStats, real: DatasetStats) -> str:
    """The side-by-side table."""
    rows: list[tuple[str, str, str]] = [("", f"synthetic ({len(synthetic.points)} frames)",
                                        f"real ({len(real.points)} frames)")]
    section = rows.append

    def both(label, function):
        section((label, function(synthetic), function(real)))

    section(("points per frame", "", ""))
    both("  all (mean, min-max)", lambda s: _spread(s.points))
    both("  camera field of view", lambda s: _spread(s.fov_points))
    both("  reflectance mean / share 0", lambda s: f"{np.mean(s.mean_intensity):.3f} / {np.mean(s.zero_intensity):.1%}")
    for names, title in ((("Car",), "Car"), (("Pedestrian", "Cyclist"), "Pedestrian+Cyclist")):
        section((f"points per {title} (median, n)", "", ""))
        for low, high in DISTANCE_BINS:
            both(f"  {low}-{high} m", lambda s, n=names, a=low, b=high: _points_in_bin(s, n, a, b))
    section(("labelled boxes per frame", "", ""))
    both("  Car/Ped/Cyc", lambda s: f"{_count(s, TARGETS) / max(len(s.points), 1):.2f}")
    for name in TARGETS:
        both(f"  {name} (share of the three)", lambda s, n=name: _share(s, n))
    both("  Van/Truck/Tram/Misc", lambda s: f"{_count(s, OTHERS) / max(len(s.points), 1):.2f}")
    both("  DontCare", lambda s: f"{np.mean(s.dontcare):.2f}" if s.dontcare else "-")
    both("  frames without Car/Ped/Cyc", lambda s: _empty_frames(s))
    section(("difficulty of Car/Ped/Cyc", "", ""))
    for level, title in DIFFICULTIES:
        both(f"  {title}", lambda s, v=level: _fraction(s, "difficulty", v))
    section(("occlusion of Car/Ped/Cyc", "", ""))
    for level in range(4):
        both(f"  {level}", lambda s, v=level: _fraction(s, "occluded", v))
    both("  truncated > 0", lambda s: _truncated(s))
    section(("box size l x w x h (mean +- std)", "", ""))
    for name in (*TARGETS, "Van", "Truck"):
        both(f"  {name}", lambda s, n=name: _sizes(s, n))
    return _table(rows)


def _table(rows: list[tuple[str, str, str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for row in rows:
        lines.append(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}".rstrip())
    return "\n".join(lines) + "\n"


def _spread(values) -> str:
    if not values:
        return "-"
    return f"{np.mean(values):,.0f} ({np.min(values):,}-{np.max(values):,})"


def _targets(stats: DatasetStats, names) -> np.ndarray:
    return np.isin(np.asarray(stats.names, dtype=object), list(names))


def _count(stats: DatasetStats, names) -> int:
    return int(_targets(stats, names).sum())


def _share(stats: DatasetStats, name: str) -> str:
    total = _count(stats, TARGETS)
    return f"{_count(stats, (name,)) / total:.1%} ({_count(stats, (name,))})" if total else "-"


def _points_in_bin(stats: DatasetStats, names, low: float, high: float) -> str:
    chosen = _targets(stats, names) & (np.asarray(stats.distance) >= low) & (np.asarray(stats.distance) < high)
    if not chosen.any():
        return "- (0)"
    return f"{np.median(np.asarray(stats.object_points)[chosen]):,.0f} ({int(chosen.sum())})"


def _empty_frames(stats: DatasetStats) -> str:
    frames = len(stats.points)
    if not frames:
        return "-"
    busy = set(np.asarray(stats.frame_of)[_targets(stats, TARGETS)].tolist())
    return f"{(frames - len(busy)) / frames:.1%}"


def _fraction(stats: DatasetStats, column: str, value: int) -> str:
    chosen = _targets(stats, TARGETS)
    if not chosen.any():
        return "-"
    return f"{(np.asarray(getattr(stats, column))[chosen] == value).mean():.1%}"


def _truncated(stats: DatasetStats) -> str:
    chosen = _targets(stats, TARGETS)
    return f"{(np.asarray(stats.truncated)[chosen] > 0).mean():.1%}" if chosen.any() else "-"


def _sizes(stats: DatasetStats, name: str) -> str:
    chosen = np.flatnonzero(_targets(stats, (name,)))
    if not len(chosen):
        return "- (0)"
    dims = np.stack([stats.dimensions[i] for i in chosen])
    mean, std = dims.mean(axis=0), dims.std(axis=0)
    return " x ".join(f"{m:.2f}+-{s:.2f}" for m, s in zip(mean, std)) + f" ({len(chosen)})"


def bev_figure(synthetic: DatasetStats, real: DatasetStats, path: str | os.PathLike) -> Path:
    """A PNG with one synthetic and one real frame seen from above (points and ground-truth boxes): the real
    frame with the most Car/Ped/Cyc boxes, and the synthetic frame whose counts of each class come closest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(14, 7.2), dpi=110)
    real_index = int(_class_counts(real).sum(axis=1).argmax()) if real.frame_ids else 0
    synthetic_index = 0
    if synthetic.frame_ids and real.frame_ids:
        gaps = np.abs(_class_counts(synthetic) - _class_counts(real)[real_index]).sum(axis=1)
        synthetic_index = int(gaps.argmin())
    _draw_frame(axes[0], synthetic, synthetic_index, "synthetic")
    _draw_frame(axes[1], real, real_index, "real KITTI")
    figure.tight_layout()
    return save_figure(figure, path)


def _class_counts(stats: DatasetStats) -> np.ndarray:
    """(frames, 3) boxes of Car, Pedestrian, Cyclist per frame."""
    counts = np.zeros((len(stats.frame_ids), len(TARGETS)), dtype=np.int64)
    for name, frame in zip(stats.names, stats.frame_of):
        if name in TARGETS:
            counts[frame, TARGETS.index(name)] += 1
    return counts


def _draw_frame(axis, stats: DatasetStats, index: int, title: str) -> None:
    from ssal.data.kitti import KittiDataset

    if not stats.frame_ids:
        axis.set_title(f"{title}: no frames")
        return
    frame_id = stats.frame_ids[index]
    dataset = KittiDataset(stats.root, fov_crop=False)
    info = dataset.read_info(frame_id, count_points=False)
    points = dataset.load_points(info, fov_only=False)
    near = (np.abs(points[:, 0]) < 60) & (np.abs(points[:, 1]) < 40)
    points = points[near]
    # Colour by height: the ground dark, things standing on it bright.
    axis.scatter(points[:, 0], points[:, 1], s=0.4, c=points[:, 2], cmap="viridis", vmin=-1.9, vmax=0.3,
                 linewidths=0, rasterized=True)
    colours = {"Car": "tab:red", "Pedestrian": "tab:orange", "Cyclist": "tab:cyan"}
    for name, box in zip(info.annos.name, info.annos.gt_boxes_lidar):
        corners = _bev_corners(box)
        ring = np.vstack((corners, corners[:1]))
        axis.plot(ring[:, 0], ring[:, 1], color=colours.get(str(name), "tab:pink"), linewidth=1.0)
    fov = np.radians(40.0)
    for sign in (-1, 1):
        axis.plot([0, 60], [0, sign * 60 * np.tan(fov)], color="grey", linewidth=0.6, linestyle="--")
    axis.set_xlim(-20, 60)
    axis.set_ylim(-40, 40)
    axis.set_aspect("equal")
    axis.set_xlabel("x (m, forward)")
    axis.set_ylabel("y (m, left)")
    counts = ", ".join(f"{n} {int((info.annos.name == n).sum())}" for n in TARGETS)
    axis.set_title(f"{title} {frame_id}: {len(points):,} points shown; {counts}", fontsize=10)


def _bev_corners(box: np.ndarray) -> np.ndarray:
    x, y, length, width, heading = box[0], box[1], box[3], box[4], box[6]
    local = np.array([[0.5, 0.5], [0.5, -0.5], [-0.5, -0.5], [-0.5, 0.5]]) * (length, width)
    c, s = np.cos(heading), np.sin(heading)
    return local @ np.array([[c, s], [-s, c]]) + (x, y)
