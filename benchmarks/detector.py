"""Speed and memory of pillar_rcnn per model preset, on realistic point clouds, 2 CPU threads.

    python benchmarks/detector.py [--configs tiny,cpu] [--repeats 7] [--batch 4] [--device cpu|cuda]

For each preset: training frames/s (forward + targets + losses + backward + Adam step, batch 4), inference frames/s
(pillarisation to post-processed boxes, no_grad, batch 4), where one inference pass spends its time, and the peak
resident memory of a process that did only that preset (each preset runs in its own subprocess). Numbers are
medians of ``--repeats`` timed iterations after warm-up. The scenes come from a small ray-caster below (64 beams,
+2 to -24.8 degrees, sensor 1.73 m above flat ground, the camera's ~90 degree front field of view, cars,
pedestrians, cyclists and walls as boxes), about 20k points per frame. The data and engine parts come later.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"tiny": (10.0, None), "cpu": (2.0, 8.0)}  # brief: training and inference frames/s at batch 4

SIZES = {1: (3.9, 1.6, 1.56), 2: (0.8, 0.6, 1.73), 3: (1.76, 0.6, 1.73)}
SENSOR_HEIGHT = 1.73


def _objects(rng: np.random.Generator) -> np.ndarray:
    """(M, 8) labelled boxes ``[x, y, z, dx, dy, dz, heading, class_id]`` on the ground, 70/20/10 % classes."""
    boxes = []
    while len(boxes) < rng.integers(8, 16):
        class_id = int(rng.choice([1, 2, 3], p=[0.7, 0.2, 0.1]))
        distance, angle = rng.uniform(5, 60), rng.uniform(-0.7, 0.7)
        x, y = distance * np.cos(angle), distance * np.sin(angle)
        if any(np.hypot(x - b[0], y - b[1]) < 5 for b in boxes):
            continue
        dx, dy, dz = SIZES[class_id]
        boxes.append([x, y, -SENSOR_HEIGHT + dz / 2, dx, dy, dz, rng.uniform(-np.pi, np.pi), class_id])
    return np.array(boxes, dtype=np.float64)


def _walls(rng: np.random.Generator) -> np.ndarray:
    side = [[rng.uniform(20, 50), s * rng.uniform(14, 22), 0.0, rng.uniform(10, 30), 0.5, 5.0, 0.0] for s in (-1, 1)]
    return np.array(side, dtype=np.float64)


def _ray_box_distance(directions: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(R, M) distance along unit rays from the sensor (origin) to each box, inf when missed (slab test)."""
    cos, sin = np.cos(-boxes[:, 6]), np.sin(-boxes[:, 6])
    origin = -boxes[:, :3]  # the sensor in each box's frame, before rotation
    ox = origin[:, 0] * cos - origin[:, 1] * sin
    oy = origin[:, 0] * sin + origin[:, 1] * cos
    dx = directions[:, 0:1] * cos - directions[:, 1:2] * sin
    dy = directions[:, 0:1] * sin + directions[:, 1:2] * cos
    dz = np.repeat(directions[:, 2:3], len(boxes), axis=1)
    near = np.zeros_like(dx)
    far = np.full_like(dx, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for o, d, half in ((ox, dx, boxes[:, 3] / 2), (oy, dy, boxes[:, 4] / 2), (origin[:, 2], dz, boxes[:, 5] / 2)):
            t1, t2 = (-half - o) / d, (half - o) / d
            near = np.maximum(near, np.nan_to_num(np.minimum(t1, t2), nan=-np.inf))
            far = np.minimum(far, np.nan_to_num(np.maximum(t1, t2), nan=np.inf))
    return np.where((near <= far) & (near > 0), near, np.inf)


def lidar_scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 4) ``x, y, z, intensity`` of a front-view scan and its labelled boxes (M, 8)."""
    objects = _objects(rng)
    solids = np.concatenate((objects[:, :7], _walls(rng)))
    elevation = np.radians(np.linspace(2.0, -24.8, 64))
    azimuth = np.radians(np.arange(-45.0, 45.0, 0.2))
    el, az = np.meshgrid(elevation, azimuth, indexing="ij")
    directions = np.stack((np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)), axis=-1).reshape(-1, 3)
    with np.errstate(divide="ignore"):
        ground = np.where(directions[:, 2] < 0, -SENSOR_HEIGHT / directions[:, 2], np.inf)
    distance = np.minimum(ground, _ray_box_distance(directions, solids).min(axis=1))
    hit = (distance < 80.0) & (rng.random(len(distance)) > 0.1)  # range limit and 10 % dropout
    distance = distance[hit] + rng.normal(0.0, 0.02, hit.sum())
    xyz = directions[hit] * distance[:, None]
    intensity = rng.uniform(0.0, 1.0, (len(xyz), 1))
    return np.concatenate((xyz, intensity), axis=1).astype(np.float32), objects.astype(np.float32)


def make_batch(scenes, cfg) -> dict:
    """Crop to the model's range (the loader's job) and collate the batch layout the detector expects."""
    x0, y0, z0, x1, y1, z1 = cfg.point_cloud_range
    points, boxes = [], []
    for i, (pts, objs) in enumerate(scenes):
        keep = (pts[:, 0] >= x0) & (pts[:, 0] < x1) & (pts[:, 1] >= y0) & (pts[:, 1] < y1)
        points.append(np.concatenate((np.full((keep.sum(), 1), i, np.float32), pts[keep]), axis=1))
        inside = (objs[:, 0] >= x0) & (objs[:, 0] < x1) & (objs[:, 1] >= y0) & (objs[:, 1] < y1)
        boxes.append(objs[inside])
    gt = np.zeros((len(scenes), max(len(b) for b in boxes), 8), np.float32)
    for i, b in enumerate(boxes):
        gt[i, :len(b)] = b
    return {"points": torch.from_numpy(np.concatenate(points)), "batch_size": len(scenes),
            "gt_boxes": torch.from_numpy(gt), "frame_ids": [str(i) for i in range(len(scenes))]}


def _busy_jiffies() -> int:
    """CPU time (clock ticks) all processes spent busy, from /proc/stat (0 where it does not exist)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return 0
    return sum(fields) - fields[3] - fields[4]  # minus idle and iowait


def _timed(fn, repeats: int, warmup: int = 2) -> tuple[float, float, float]:
    """Median and best wall seconds of ``fn``, and the average number of cores other processes kept busy meanwhile
    (timings on a shared machine are only as good as that number is small)."""
    for _ in range(warmup):
        fn()
    times = []
    busy, own, start_all = _busy_jiffies(), sum(os.times()[:2]), time.perf_counter()
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    wall = time.perf_counter() - start_all
    others = (_busy_jiffies() - busy) / os.sysconf("SC_CLK_TCK") - (sum(os.times()[:2]) - own)
    return statistics.median(times), min(times), max(0.0, others / wall)


def _inference_breakdown(model, batch, repeats: int, sync) -> dict[str, float]:
    """Median milliseconds per stage of one inference pass (batch)."""
    from ssal.models.map_to_bev import scatter_to_bev
    from ssal.models.pillar_vfe import pillarize
    from ssal.models.proposal_layer import propose

    cfg = model.cfg
    stages: dict[str, list[float]] = {}

    def tick(name, start):
        sync()
        stages.setdefault(name, []).append((time.perf_counter() - start) * 1000)
        return time.perf_counter()

    with torch.no_grad():
        for _ in range(repeats):
            t = time.perf_counter()
            pillars = pillarize(batch["points"], cfg, cfg.vfe.max_pillars_test)
            t = tick("pillarise", t)
            canvas = scatter_to_bev(model.vfe(pillars), pillars.coords, batch["batch_size"], cfg.grid_size)
            t = tick("pfn + scatter", t)
            bev = model.backbone(canvas)
            t = tick("backbone", t)
            rpn = model.anchor_head(bev)
            boxes = model.anchor_head.decode(rpn)
            t = tick("rpn head + decode", t)
            p = cfg.proposals
            proposals = propose(boxes, rpn.cls_logits, p.test_pre_nms, p.test_post_nms, p.test_nms_iou)
            t = tick("proposals (top-k + NMS)", t)
            out = model.roi_head(bev, proposals.boxes)
            t = tick("roi head", t)
            model._predictions(proposals, out, False)
            tick("refine + post-processing", t)
    return {k: statistics.median(v) for k, v in stages.items()}


def run_preset(name: str, repeats: int, batch_size: int, device: str) -> dict:
    from ssal.models import build_detector, load_model_config

    torch.set_num_threads(2)
    cfg = load_model_config(ROOT / "configs" / "_models" / f"{name}.yaml")
    rng = np.random.default_rng(0)
    scenes = [lidar_scene(rng) for _ in range(batch_size)]
    batch = make_batch(scenes, cfg)
    batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    model = build_detector(cfg, seed=0).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)

    def sync():
        if device != "cpu":
            torch.cuda.synchronize()

    def train_step():
        model.train()
        loss, _ = model(batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        sync()

    def infer():
        model.eval()
        with torch.no_grad():
            model(batch)
        sync()

    train_s, train_best, train_foreign = _timed(train_step, repeats)
    infer_s, infer_best, infer_foreign = _timed(infer, repeats)
    model.eval()
    breakdown = _inference_breakdown(model, batch, repeats, sync)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2 if device == "cpu"
            else torch.cuda.max_memory_allocated() / 1024**3)
    return {
        "preset": name, "grid": "x".join(map(str, cfg.grid_size)),
        "points/frame": int(len(batch["points"]) / batch_size),
        "params (M)": sum(p.numel() for p in model.parameters()) / 1e6,
        "train frames/s": batch_size / train_s, "(best)": batch_size / train_best,
        "infer frames/s": batch_size / infer_s, "(best) ": batch_size / infer_best,
        "foreign cores": max(train_foreign, infer_foreign),
        "peak RSS (GB)" if device == "cpu" else "peak GPU memory (GB)": peak,
        "breakdown": breakdown,
    }


def _table(rows: list[dict]) -> str:
    memory = "peak RSS (GB)" if "peak RSS (GB)" in rows[0] else "peak GPU memory (GB)"
    keys = ["preset", "grid", "points/frame", "params (M)", "train frames/s", "(best)", "infer frames/s", "(best) ",
            memory, "foreign cores"]
    lines = ["| " + " | ".join(keys + ["target (train / infer)"]) + " |", "|" + "---|" * (len(keys) + 1)]
    for row in rows:
        train_target, infer_target = TARGETS.get(row["preset"], (None, None))
        target = f"{train_target or '-'} / {infer_target or '-'}"
        cells = [f"{row[k]:.2f}" if isinstance(row[k], float) else str(row[k]) for k in keys]
        lines.append("| " + " | ".join(cells + [target]) + " |")
    stages = list(rows[0]["breakdown"])
    lines += ["", "Inference time per batch, ms (median):", "",
              "| stage | " + " | ".join(r["preset"] for r in rows) + " |", "|---|" + "---|" * len(rows)]
    for stage in stages:
        lines.append(f"| {stage} | " + " | ".join(f"{r['breakdown'][stage]:.1f}" for r in rows) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="tiny,cpu", help="comma-separated presets from configs/_models")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="cpu", help="cpu (2 threads) or cuda")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_preset(args.worker, args.repeats, args.batch, args.device)))
        return
    rows = []
    load_before = os.getloadavg()[0]
    for name in args.configs.split(","):
        env = dict(os.environ, OMP_NUM_THREADS="2")
        result = subprocess.run([sys.executable, __file__, "--worker", name, "--repeats", str(args.repeats),
                                 "--batch", str(args.batch), "--device", args.device], capture_output=True, text=True,
                                env=env)
        if result.returncode:
            sys.exit(f"preset {name} failed:\n{result.stderr}")
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    where = "2 CPU threads" if args.device == "cpu" else torch.cuda.get_device_name()
    print(f"pillar_rcnn, batch {args.batch}, {where}, torch {torch.__version__}, medians of {args.repeats}; "
          f"1-min load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print()
    print(_table(rows))
    busy = [r["preset"] for r in rows if r["foreign cores"] > 0.2]
    if busy:
        print(f"\nwarning: other processes kept > 0.2 cores busy while timing {', '.join(busy)}; two intra-op threads "
              "stall badly when one of them is descheduled, so these numbers understate the model: rerun when quiet.")


if __name__ == "__main__":
    main()
