"""Pictures of a synthetic KITTI-layout dataset from above: the frames of a drive side by side (how neighbouring
frames overlap), and one frame per rare tag with the tagged objects drawn thick (what the long tail looks like).

Points are coloured by height (ground dark, things standing on it bright); ground-truth boxes by class, with a
tick from the centre to the front edge so that headings show; objects carrying the picture's tag are drawn
thicker, in black.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ssal.data.kitti_label import read_label_file
from ssal.errors import SsalError

__all__ = ["draw_frames", "frames_for_tags", "save_figure"]

COLOURS = {"Car": "tab:red", "Pedestrian": "tab:orange", "Cyclist": "tab:cyan"}


def frames_for_tags(tags: dict[str, dict], wanted: list[str]) -> list[tuple[str, str]]:
    """(tag, frame id) for each wanted tag: the frame with the most objects carrying it (or, for a frame tag,
    the first frame that carries it)."""
    chosen = []
    for tag in wanted:
        best, best_count = None, -1
        for frame_id, entry in sorted(tags.items()):
            if tag not in entry["tags"]:
                continue
            count = sum(tag in row for row in entry["objects"])
            if count > best_count:
                best, best_count = frame_id, count
        if best is None:
            raise SsalError(f"no frame carries the tag {tag!r}", "--tags")
        chosen.append((tag, best))
    return chosen


def draw_frames(root: str | os.PathLike, panels: list[tuple[str, str, str | None]], path: str | os.PathLike,
                tags: dict[str, dict] | None = None, columns: int = 3) -> Path:
    """A PNG with one BEV panel per ``(frame id, title, highlighted tag or None)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ssal.data.kitti import KittiDataset

    dataset = KittiDataset(root, fov_crop=False)
    rows = (len(panels) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 4.4 * rows), dpi=100, squeeze=False)
    for axis in axes.ravel()[len(panels):]:
        axis.axis("off")
    for axis, (frame_id, title, tag) in zip(axes.ravel(), panels):
        objects = tags[frame_id]["objects"] if tags and frame_id in tags else None
        _draw(axis, dataset, frame_id, title, tag, objects)
    figure.tight_layout()
    return save_figure(figure, path)


def _draw(axis, dataset, frame_id: str, title: str, tag: str | None, objects: list | None) -> None:
    info = dataset.read_info(frame_id, count_points=False)
    points = dataset.load_points(info, fov_only=False)
    near = (points[:, 0] > -10) & (points[:, 0] < 60) & (np.abs(points[:, 1]) < 30)
    points = points[near]
    axis.scatter(points[:, 0], points[:, 1], s=0.25, c=points[:, 2], cmap="viridis", vmin=-1.9, vmax=0.5,
                 linewidths=0, rasterized=True)
    # The reader drops DontCare rows; the tags file counts every row of the label file.
    file_names = read_label_file(Path(dataset.root) / "training" / "label_2" / f"{frame_id}.txt", with_score=False).name
    rows = [row for row, name in enumerate(file_names) if name != "DontCare"]
    names, boxes = info.annos.name, info.annos.gt_boxes_lidar
    for k, (name, box) in enumerate(zip(names, boxes)):
        highlighted = tag is not None and objects is not None and tag in objects[rows[k]]
        corners = _corners(box)
        ring = np.vstack((corners, corners[:1]))
        colour = "black" if highlighted else COLOURS.get(str(name), "tab:pink")
        width = 2.2 if highlighted else 0.9
        axis.plot(ring[:, 0], ring[:, 1], color=colour, linewidth=width)
        front = (corners[0] + corners[1]) / 2
        axis.plot([box[0], front[0]], [box[1], front[1]], color=colour, linewidth=width)
    axis.set_xlim(-10, 60)
    axis.set_ylim(-30, 30)
    axis.set_aspect("equal")
    axis.tick_params(labelsize=7)
    axis.set_title(title, fontsize=9)


def _corners(box: np.ndarray) -> np.ndarray:
    """BEV corners (4, 2): front-left, front-right, rear-right, rear-left."""
    x, y, length, width, heading = box[0], box[1], box[3], box[4], box[6]
    local = np.array([[0.5, 0.5], [0.5, -0.5], [-0.5, -0.5], [-0.5, 0.5]]) * (length, width)
    c, s = np.cos(heading), np.sin(heading)
    return local @ np.array([[c, s], [-s, c]]) + (x, y)


def save_figure(figure, path: str | Path) -> Path:
    """Write a matplotlib figure to ``path`` and close it; a folder that cannot be written is one SsalError."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        figure.savefig(path)
    except OSError as error:
        raise SsalError(f"cannot write the picture ({error.strerror})", path) from None
    finally:
        plt.close(figure)
    return path
