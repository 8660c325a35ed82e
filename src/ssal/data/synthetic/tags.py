"""The tags of a synthetic KITTI-layout dataset: which drive each frame comes from, what kind of street, weather
and light, which rare situations, and which objects take part in them. Written beside the data as
``ROOT/synth_tags.json``::

    {
      "format": "ssal-synth-tags", "version": 1,
      "frames": {
        "000042": {
          "drive": "train-0004",        split and number of the drive; frames of one drive are near-duplicates
          "split": "train",             train or val (a drive is in one split only)
          "index_in_drive": 2,          0, 1, ... in driving order
          "style": "city",              residential, city, highway or campus
          "weather": "clear",           clear or rain
          "light": "day",               day or night
          "tags": ["child", ...],       the drive's rare situations and every tag of the frame's labelled objects
          "objects": [[], ["child"], ...]   per row of label_2/000042.txt (DontCare rows too), that object's tags
        }, ...
      }
    }

Object tags: ``child``, and the name of the rare situation an object is part of (``construction_zone``,
``children_group``, ``cyclist_among_parked``, ``car_behind_truck``); frame-only situations: ``rain``, ``night``.
``ssal eval kitti --tags FILE`` breaks AP down by these tags (``ssal.eval.tags``).
"""

from __future__ import annotations

import json
from pathlib import Path

from ssal.atomic import atomic_write_text


__all__ = ["TAGS_FILE", "frame_tags", "tag_counts", "write_tags"]

TAGS_FILE = "synth_tags.json"
FORMAT = "ssal-synth-tags"
VERSION = 1


def frame_tags(scene, labels, drive: str, split: str, index_in_drive: int, situations: tuple[str, ...]) -> dict:
    """The tags entry of one frame (``labels``: its ``FrameLabels``, rows in file order)."""
    objects = []
    for row, actor in enumerate(labels.actor.tolist()):
        text = "" if labels.labels.name[row] == "DontCare" else str(scene.actors.tags[actor])
        objects.append(sorted(t for t in text.split(",") if t))
    seen = sorted(set(situations) | {t for row in objects for t in row})
    return {"drive": drive, "split": split, "index_in_drive": int(index_in_drive), "style": scene.style,
            "weather": "rain" if "rain" in situations else "clear",
            "light": "night" if "night" in situations else "day", "tags": seen, "objects": objects}


def write_tags(root: Path, frames: dict[str, dict]) -> Path:
    path = Path(root) / TAGS_FILE
    document = {"format": FORMAT, "version": VERSION, "frames": dict(sorted(frames.items()))}
    atomic_write_text(path, json.dumps(document, sort_keys=True, separators=(",", ":")) + "\n")
    return path


def tag_counts(frames: dict[str, dict]) -> dict[str, tuple[int, int]]:
    """Per tag: frames that carry it and objects that carry it."""
    counts: dict[str, list[int]] = {}
    for entry in frames.values():
        for tag in entry["tags"]:
            counts.setdefault(tag, [0, 0])[0] += 1
        for row in entry["objects"]:
            for tag in row:
                counts.setdefault(tag, [0, 0])[1] += 1
    return {tag: (a, b) for tag, (a, b) in sorted(counts.items())}


