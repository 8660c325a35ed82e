"""Speed of the evaluation on a KITTI-val-sized case: 3,769 frames, ~15k ground truth boxes of the evaluated
classes (plus Van, DontCare), ~50k detections (jittered true objects with high scores, duplicates, false
positives with low scores). Prints one table: wall time of the full KITTI evaluation (2-D, BEV, 3-D, AOS; Easy,
Moderate, Hard; R11 and R40; both overlap tables) and of the Waymo AP/APH on the same boxes.

    OMP_NUM_THREADS=2 python benchmarks/eval.py [--frames 3769] [--repeat 3]

Target: KITTI under 20 s on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ssal.data.kitti_label import KittiLabels
from ssal.eval import evaluate_kitti, evaluate_waymo

CLASSES = np.array(["Car", "Pedestrian", "Cyclist", "Van"])
CLASS_P = np.array([0.70, 0.20, 0.07, 0.03])
SIZES = {"Car": (3.9, 1.55, 1.65), "Pedestrian": (0.8, 1.75, 0.6), "Cyclist": (1.8, 1.7, 0.6), "Van": (5.0, 2.1, 1.9)}
FOCAL, CENTRE_U, HORIZON_V = 721.5, 609.6, 173.0


def make_frame(rng: np.random.Generator) -> tuple[KittiLabels, KittiLabels]:
    """One frame of ground truth and detections."""
    n = rng.poisson(4.0)
    names = rng.choice(CLASSES, n, p=CLASS_P)
    dims = np.array([SIZES[c] for c in names]).reshape(n, 3) * rng.uniform(0.9, 1.1, (n, 3))
    loc = np.stack((rng.uniform(-15, 15, n), rng.normal(1.7, 0.1, n), rng.uniform(5, 60, n)), axis=1)
    ry = rng.uniform(-np.pi, np.pi, n)
    gt = _labels(names, dims, loc, ry, rng.choice([0, 1, 2], n, p=[0.6, 0.3, 0.1]), None, rng)
    gt = _with_dontcare(gt, rng)

    found = rng.random(n) < 0.85
    copies = np.repeat(np.flatnonzero(found), 1 + (rng.random(found.sum()) < 0.1))
    m = len(copies)
    det = _labels(names[copies], dims[copies] * rng.normal(1, 0.03, (m, 3)),
                  loc[copies] + rng.normal(0, 0.06, (m, 3)) * [1, 0.5, 1], ry[copies] + rng.normal(0, 0.05, m),
                  np.zeros(m, int), rng.beta(5, 2, m), rng)
    k = rng.poisson(9.5)
    fp_names = rng.choice(CLASSES[:3], k, p=[0.6, 0.3, 0.1])
    fp_dims = np.array([SIZES[c] for c in fp_names]).reshape(k, 3)
    fp_loc = np.stack((rng.uniform(-20, 20, k), rng.normal(1.7, 0.2, k), rng.uniform(5, 70, k)), axis=1)
    fp = _labels(fp_names, fp_dims, fp_loc, rng.uniform(-np.pi, np.pi, k), np.zeros(k, int), rng.beta(2, 5, k), rng)
    return gt, _concat(det, fp)


def _labels(names, dims, loc, ry, occluded, score, rng) -> KittiLabels:
    n = len(names)
    height_px = FOCAL * dims[:, 1] / loc[:, 2]
    width_px = FOCAL * np.maximum(dims[:, 0], dims[:, 2]) / loc[:, 2]
    u = CENTRE_U + FOCAL * loc[:, 0] / loc[:, 2]
    bottom = HORIZON_V + FOCAL * loc[:, 1] / loc[:, 2]
    bbox = np.stack((u - width_px / 2, bottom - height_px, u + width_px / 2, bottom), axis=1)
    truncated = np.where(rng.random(n) < 0.1, rng.uniform(0, 0.6, n), 0.0)
    return KittiLabels(name=np.asarray(names, dtype="<U16"), truncated=truncated, occluded=np.asarray(occluded),
                       alpha=ry - np.arctan2(loc[:, 0], loc[:, 2]), bbox=bbox, dimensions=dims[:, [0, 1, 2]],
                       location=loc, rotation_y=ry, score=score)


def _with_dontcare(gt: KittiLabels, rng) -> KittiLabels:
    k = rng.poisson(2.0)
    corner = np.stack((rng.uniform(0, 1200, k), rng.uniform(150, 220, k)), axis=1)
    dc = KittiLabels(name=np.full(k, "DontCare", dtype="<U16"), truncated=-np.ones(k), occluded=-np.ones(k, int),
                     alpha=np.full(k, -10.0), bbox=np.concatenate((corner, corner + rng.uniform(10, 60, (k, 2))), 1),
                     dimensions=-np.ones((k, 3)), location=np.full((k, 3), -1000.0), rotation_y=np.full(k, -10.0))
    return _concat(gt, dc)


def _concat(a: KittiLabels, b: KittiLabels) -> KittiLabels:
    def cat(x, y):
        return None if x is None or y is None else np.concatenate((x, y))
    return KittiLabels(*(cat(getattr(a, f), getattr(b, f)) for f in
                         ("name", "truncated", "occluded", "alpha", "bbox", "dimensions", "location", "rotation_y",
                          "score")))


def to_waymo(gt: KittiLabels, det: KittiLabels) -> tuple[dict, dict]:
    """The same boxes as Waymo-style frames (camera boxes used directly as (x, z, y) centred boxes)."""
    rename = {"Car": "Vehicle", "Van": "Vehicle"}

    def boxes(labels):
        l, h, w = labels.dimensions.T
        x, y, z = labels.location.T
        return np.stack((x, z, -y + h / 2, l, w, h, -labels.rotation_y), axis=1)

    keep = gt.name != "DontCare"
    g = {"boxes": boxes(gt)[keep], "names": np.array([rename.get(n, n) for n in gt.name[keep]]),
         "difficulty": np.zeros(keep.sum(), int), "num_points": np.full(keep.sum(), 50)}
    p = {"boxes": boxes(det), "scores": det.score, "names": np.array([rename.get(n, n) for n in det.name])}
    return g, p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=3769)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    frames = [make_frame(rng) for _ in range(args.frames)]
    gt, det = [f[0] for f in frames], [f[1] for f in frames]
    n_gt = sum(int(np.isin(g.name, ["Car", "Pedestrian", "Cyclist"]).sum()) for g in gt)
    n_det = sum(len(d) for d in det)
    waymo = [to_waymo(g, d) for g, d in zip(gt, det)]

    rows = []
    for name, run in (("KITTI (2d, bev, 3d, aos; R11+R40; strict+loose)", lambda: evaluate_kitti(gt, det)),
                      ("Waymo (AP/APH, LEVEL_1+2, 3 classes)",
                       lambda: evaluate_waymo([w[0] for w in waymo], [w[1] for w in waymo]))):
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = run()
            times.append(time.perf_counter() - start)
        rows.append((name, float(np.median(times)), min(times), result))

    print(f"{args.frames} frames, {n_gt} ground truth boxes (Car/Pedestrian/Cyclist), {n_det} detections")
    targets = {rows[0][0]: 20.0}
    print(f"{'evaluation':<52}{'median s':>10}{'best s':>9}{'target s':>10}{'median/target':>15}")
    for name, median, best, _ in rows:
        target = targets.get(name)
        ratio = f"{median / target:>15.3f}" if target else f"{'-':>15}"
        print(f"{name:<52}{median:>10.2f}{best:>9.2f}{target or '-':>10}{ratio}")
    kitti = rows[0][3]
    print(f"sanity: Car 3d R40 moderate = {kitti['Car']['3d']['R40'][1]:.2f}, "
          f"Waymo Vehicle L2 AP = {rows[1][3]['Vehicle']['LEVEL_2']['AP']:.2f}")


if __name__ == "__main__":
    main()
