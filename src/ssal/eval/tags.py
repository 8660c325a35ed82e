"""KITTI AP broken down by tag: how a detector does on the frames and objects of each situation of a tagged
dataset (the synthetic world's ``synth_tags.json``, or any file of that shape).

For a tag T the evaluation takes the frames that carry T (a frame carries its own tags, those of its objects,
``style=<style>``, ``weather=<weather>`` and ``light=<light>``). When T is an object tag (some object of the
evaluated frames carries it), only the objects with T count: the other objects of those frames become DontCare
regions with their 3-D boxes, so that detecting them is neither a hit nor a false positive, exactly as the
devkit treats DontCare. Frame tags (rain, night, a street style) keep every object of their frames.

    from ssal.eval.tags import evaluate_kitti_by_tag, read_tags
    table = evaluate_kitti_by_tag(frame_ids, gt, pred, read_tags("data/synth/synth_tags.json"))
    table["child"]["result"]["Pedestrian"]["3d"]["R40"]     # [easy, moderate, hard]
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

from ssal.data.kitti_label import KittiLabels
from ssal.errors import SsalError
from ssal.eval.kitti import DEFAULT_CLASSES, evaluate_kitti

__all__ = ["evaluate_kitti_by_tag", "format_tag_table", "frame_tag_sets", "read_tags"]

_FRAME_FIELDS = ("style", "weather", "light")


def read_tags(path: str | os.PathLike) -> dict[str, dict]:
    """The ``frames`` mapping of a tags file (frame id -> entry with ``tags`` and ``objects``)."""
    try:
        document = json.loads(open(path, encoding="utf-8").read())
    except OSError as error:
        raise SsalError(f"cannot read the tags file ({error.strerror})", path) from None
    except json.JSONDecodeError as error:
        raise SsalError(f"not a JSON tags file ({error.msg} at line {error.lineno})", path) from None
    frames = document.get("frames") if isinstance(document, dict) else None
    if not isinstance(frames, dict):
        raise SsalError("a tags file needs a 'frames' object (frame id -> tags)", path)
    for frame_id, entry in frames.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("tags", []), list) \
                or not isinstance(entry.get("objects", []), list):
            raise SsalError(f"frame {frame_id}: 'tags' and 'objects' must be lists", path)
    return frames


def frame_tag_sets(entry: dict) -> tuple[set[str], list[set[str]]]:
    """The tags a frame carries (its own, its objects', its style/weather/light) and each object row's tags."""
    objects = [set(row) for row in entry.get("objects", [])]
    tags = set(entry.get("tags", [])) | {t for row in objects for t in row}
    tags |= {f"{key}={entry[key]}" for key in _FRAME_FIELDS if key in entry}
    return tags, objects


def evaluate_kitti_by_tag(frame_ids: Sequence[str], gt: Sequence[KittiLabels], pred: Sequence[KittiLabels],
                          tags: dict[str, dict], classes: Sequence[str] = DEFAULT_CLASSES,
                          only: Sequence[str] | None = None) -> dict[str, dict]:
    """Per tag (every tag of the frames, or ``only`` these): ``{"frames": n, "objects": {class: n},
    "object_tag": bool, "result": evaluate_kitti(...)}``. ``gt[i]`` and ``pred[i]`` belong to ``frame_ids[i]``;
    a frame missing from ``tags`` is an error (the file does not describe this dataset)."""
    missing = [f for f in frame_ids if f not in tags]
    if missing:
        raise SsalError(f"{len(missing)} evaluated frame(s) have no entry in the tags file (e.g. {missing[0]})",
                        "tags")
    per_frame = [frame_tag_sets(tags[f]) for f in frame_ids]
    for frame_id, labels, (_, objects) in zip(frame_ids, gt, per_frame):
        if len(objects) != len(labels):
            raise SsalError(f"frame {frame_id}: {len(objects)} object entries for {len(labels)} label rows", "tags")
    object_tags = {t for _, objects in per_frame for row in objects for t in row}
    names = sorted({t for frame_tags, _ in per_frame for t in frame_tags}) if only is None else list(only)
    table = {}
    for tag in names:
        rows = [i for i, (frame_tags, _) in enumerate(per_frame) if tag in frame_tags]
        if not rows:
            continue
        is_object_tag = tag in object_tags
        subset = [_keep_tagged(gt[i], per_frame[i][1], tag) if is_object_tag else gt[i] for i in rows]
        counted = {c: int(sum(np.sum((g.name == c)) for g in subset)) for c in classes}
        table[tag] = {"frames": len(rows), "objects": counted, "object_tag": is_object_tag,
                      "result": evaluate_kitti(subset, [pred[i] for i in rows], classes=classes, loose=False)}
    return table


def _keep_tagged(labels: KittiLabels, objects: list[set[str]], tag: str) -> KittiLabels:
    """``labels`` with every object that lacks ``tag`` turned into a DontCare region (its 3-D box kept)."""
    names = labels.name.copy()
    for row, row_tags in enumerate(objects):
        if names[row] != "DontCare" and tag not in row_tags:
            names[row] = "DontCare"
    out = labels.select(np.arange(len(labels)))
    out.name = names
    return out


def format_tag_table(table: dict[str, dict], classes: Sequence[str] = DEFAULT_CLASSES) -> str:
    """One line per tag: frames, objects per class and 3-D AP R40 Moderate per class (``-`` without objects)."""
    head = f"{'tag':<28} {'frames':>6} " + " ".join(f"{c[:10] + ' n':>12} {'3D mod':>7}" for c in classes)
    lines = ["AP by tag (3-D AP R40 Moderate, only the objects with the tag count for an object tag)", head]
    for tag, entry in table.items():
        cells = []
        for c in classes:
            count = entry["objects"][c]
            ap = entry["result"][c]["3d"]["R40"][1] if count else None
            cells.append(f"{count:>12} {('-' if ap is None else f'{ap:.2f}'):>7}")
        marker = " (objects)" if entry["object_tag"] else ""
        lines.append(f"{(tag + marker)[:28]:<28} {entry['frames']:>6} " + " ".join(cells))
    return "\n".join(lines) + "\n"
