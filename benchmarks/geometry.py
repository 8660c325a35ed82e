"""Speed of the rotated-box geometry against straightforward references, measured in the same run.

Run: ``python benchmarks/geometry.py [--repeats N] [--device cuda] [--threads T]``. Prints one table: median
wall time of ours and of the reference, the speed-up, and whether the two agree; 2 torch threads unless
``--threads`` says otherwise. With ``--device cuda`` ours runs on the GPU (synchronised before each clock read)
while the references stay on the CPU. The "foreign cores" column is the average number of CPU cores used by
*other* processes while a row was measured (from /proc/stat); rows measured above
~0.2 are noisy on a shared machine, so run again when it is quiet.

References: shapely's vectorised polygon intersection for BEV IoU, shapely + numpy z-overlap for 3-D IoU, a
Python greedy loop over shapely IoU (each kept box against the survivors) for NMS, and a one-shot dense torch
broadcast for points-in-boxes.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable

import numpy as np
import shapely
import torch

from ssal.geometry import boxes_iou3d, boxes_iou_bev, boxes_to_bev_corners, nms_bev, points_in_boxes

# Car, pedestrian and cyclist sizes (dx, dy, dz) and how often they appear, roughly KITTI's.
_SIZES = np.array([[3.9, 1.6, 1.56], [0.8, 0.6, 1.73], [1.76, 0.6, 1.73]])
_SHARES = [0.7, 0.2, 0.1]


def scene_boxes(rng: np.random.Generator, count: int) -> torch.Tensor:
    """Boxes spread over a 70 x 80 m area in front of the car (count, 7), float32."""
    kind = rng.choice(3, count, p=_SHARES)
    return torch.from_numpy(np.concatenate([
        rng.uniform((0.0, -40.0, -1.2), (70.0, 40.0, -0.6), (count, 3)),
        _SIZES[kind] * rng.uniform(0.85, 1.15, (count, 3)),
        rng.uniform(-math.pi, math.pi, (count, 1)),
    ], axis=1)).float()


def nms_candidates(rng: np.random.Generator, count: int, objects: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    """A detector's top-k before NMS: boxes jittered around a few objects, plus scattered false positives."""
    centres = scene_boxes(rng, objects).numpy()
    which = rng.integers(0, objects, count)
    boxes = centres[which].copy()
    boxes[:, :2] += rng.normal(0, 0.5, (count, 2))
    boxes[:, 3:6] *= rng.uniform(0.9, 1.1, (count, 3))
    boxes[:, 6] += rng.normal(0, 0.2, count)
    strays = rng.random(count) < 0.1
    boxes[strays] = scene_boxes(rng, int(strays.sum())).numpy()
    return torch.from_numpy(boxes).float(), torch.from_numpy(rng.random(count)).float()


def lidar_points(rng: np.random.Generator, count: int) -> torch.Tensor:
    """A scan-like cloud (count, 4): dense near the sensor, sparse far away, mostly on the ground."""
    distance = 2.0 + rng.exponential(15.0, count).clip(max=78.0)
    angle = rng.uniform(-math.pi, math.pi, count)
    z = np.where(rng.random(count) < 0.7, rng.normal(-1.7, 0.05, count), rng.uniform(-1.7, 1.0, count))
    return torch.from_numpy(np.stack(
        [distance * np.cos(angle), distance * np.sin(angle), z, rng.random(count)], axis=1)).float()


# ------------------------------------------------------------------------------------------------ references


def polygons(boxes: torch.Tensor) -> np.ndarray:
    return shapely.polygons(boxes_to_bev_corners(boxes.double()).numpy())


def shapely_iou_bev(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    pa, pb = polygons(a)[:, None], polygons(b)[None, :]
    inter = shapely.area(shapely.intersection(pa, pb))
    union = shapely.area(pa) + shapely.area(pb) - inter
    return inter / union


def shapely_iou3d(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    a, b = a.double().numpy(), b.double().numpy()
    pa, pb = polygons(torch.from_numpy(a))[:, None], polygons(torch.from_numpy(b))[None, :]
    top = np.minimum((a[:, 2] + a[:, 5] / 2)[:, None], (b[:, 2] + b[:, 5] / 2)[None, :])
    bottom = np.maximum((a[:, 2] - a[:, 5] / 2)[:, None], (b[:, 2] - b[:, 5] / 2)[None, :])
    inter = shapely.area(shapely.intersection(pa, pb)) * np.clip(top - bottom, 0, None)
    return inter / (np.prod(a[:, 3:6], 1)[:, None] + np.prod(b[:, 3:6], 1)[None, :] - inter)


def shapely_greedy_nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> list[int]:
    order = np.argsort(-scores.numpy(), kind="stable")
    shapes = polygons(boxes)[order]
    areas = shapely.area(shapes)
    alive = np.ones(len(order), dtype=bool)
    keep = []
    for rank in range(len(order)):
        if not alive[rank]:
            continue
        keep.append(int(order[rank]))
        rest = rank + 1 + np.nonzero(alive[rank + 1:])[0]
        inter = shapely.area(shapely.intersection(shapes[rank], shapes[rest]))
        alive[rest[inter / (areas[rank] + areas[rest] - inter) > threshold]] = False
    return keep


def dense_points_in_boxes(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    offset = points[:, None, :3] - boxes[None, :, :3]
    cos, sin = torch.cos(boxes[:, 6]), torch.sin(boxes[:, 6])
    return (((offset[..., 0] * cos + offset[..., 1] * sin).abs() <= boxes[:, 3] / 2)
            & ((offset[..., 1] * cos - offset[..., 0] * sin).abs() <= boxes[:, 4] / 2)
            & (offset[..., 2].abs() <= boxes[:, 5] / 2))


# ------------------------------------------------------------------------------------------------ timing


def _busy_jiffies() -> int:
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # minus idle and iowait


def measure(function: Callable[[], object], repeats: int, device: torch.device) -> tuple[float, object, float]:
    """Median seconds over ``repeats`` calls after one warm-up, the last result, and foreign cores."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    result = function()
    sync()
    times = []
    ticks = os.sysconf("SC_CLK_TCK")
    start_busy, start_own, start_wall = _busy_jiffies(), sum(os.times()[:2]), time.perf_counter()
    for _ in range(repeats):
        begin = time.perf_counter()
        result = function()
        sync()
        times.append(time.perf_counter() - begin)
    wall = time.perf_counter() - start_wall
    foreign = ((_busy_jiffies() - start_busy) / ticks - (sum(os.times()[:2]) - start_own)) / wall
    return float(np.median(times)), result, max(foreign, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls of ours per row (median)")
    parser.add_argument("--reference-repeats", type=int, default=3, help="timed calls of each reference")
    parser.add_argument("--device", default="cpu", help="where ours runs (cpu, cuda); references use the CPU")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (on a busy machine, 1 stalls "
                        "far less than 2 on these many small operations)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rng = np.random.default_rng(0)

    a, b = scene_boxes(rng, 500), scene_boxes(rng, 500)
    candidates, scores = nms_candidates(rng, 4096)
    points, cars = lidar_points(rng, 120_000), scene_boxes(rng, 50)
    da, db, d_candidates, d_scores, d_points, d_cars = (
        t.to(device) for t in (a, b, candidates, scores, points, cars))

    def all_pairs_iou() -> torch.Tensor:  # ours without the pre-filter: every one of the 250k pairs exactly
        index = torch.arange(500, device=device)
        rows, cols = torch.meshgrid(index, index, indexing="ij")
        return boxes_iou_bev(da[rows.flatten()], db[cols.flatten()], aligned=True).reshape(500, 500)

    rows = [
        ("BEV IoU, pre-filtered", "500 x 500", lambda: boxes_iou_bev(da, db), lambda: shapely_iou_bev(a, b),
         lambda ours, ref: np.abs(ours.double().cpu().numpy() - ref).max() < 1e-4),
        ("BEV IoU, every pair", "500 x 500", all_pairs_iou, lambda: shapely_iou_bev(a, b),
         lambda ours, ref: np.abs(ours.double().cpu().numpy() - ref).max() < 1e-4),
        ("3-D IoU", "500 x 500", lambda: boxes_iou3d(da, db), lambda: shapely_iou3d(a, b),
         lambda ours, ref: np.abs(ours.double().cpu().numpy() - ref).max() < 1e-4),
        ("rotated NMS, IoU > 0.1", "4,096", lambda: nms_bev(d_candidates, d_scores, 0.1),
         lambda: shapely_greedy_nms(candidates, scores, 0.1), lambda ours, ref: ours.tolist() == ref),
        ("rotated NMS, IoU > 0.7", "4,096", lambda: nms_bev(d_candidates, d_scores, 0.7),
         lambda: shapely_greedy_nms(candidates, scores, 0.7), lambda ours, ref: ours.tolist() == ref),
        ("points in boxes", "120k x 50", lambda: points_in_boxes(d_points, d_cars),
         lambda: dense_points_in_boxes(points, cars), lambda ours, ref: torch.equal(ours.cpu(), ref)),
    ]

    header = ("operation", "size", "ours ms", "reference ms", "speed-up", "agree", "foreign cores")
    lines = []
    for name, size, ours_fn, ref_fn, agree in rows:
        ours_s, ours, foreign_ours = measure(ours_fn, args.repeats, device)
        ref_s, ref, foreign_ref = measure(ref_fn, args.reference_repeats, torch.device("cpu"))
        lines.append((name, size, f"{ours_s * 1e3:.1f}", f"{ref_s * 1e3:.1f}", f"{ref_s / ours_s:.1f}x",
                      "yes" if agree(ours, ref) else "NO", f"{max(foreign_ours, foreign_ref):.2f}"))
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__}, ours on {where}, {torch.get_num_threads()} CPU threads, medians of "
          f"{args.repeats} (ours) and {args.reference_repeats} (reference) calls")
    for row in [header, tuple("-" * w for w in widths), *lines]:
        print(" | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))


if __name__ == "__main__":
    main()
