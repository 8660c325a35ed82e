"""Speed of ``ssal synth``: frames/s per preset, one process and a worker pool, with the points it writes; and
whether one process and the pool wrote the same bytes.

    python benchmarks/synth.py [--frames 40] [--pool-frames 160] [--workers 2] [--repeats 3]

Each row generates frames into a temporary folder (scene, ray casting, labels, PNG and every file written) and
reports the median over ``--repeats`` runs, all in this one run so that the rows compare. The pool rows make
``--pool-frames`` frames and include starting the processes (spawned: each imports numpy and torch, about a
second of CPU), which is why a pool only pays off for larger datasets. CPU ms/frame counts every process's
CPU time, so it holds steady when other work shares the machine and wall-clock rates do not (1000 / CPU ms/frame
is the rate of one process on an idle core). Targets (issues 3 and 12): at least 20 frames/s for ``small`` and
5 frames/s for ``kitti`` in one process. Frames come from drives (10 per drive for ``kitti``, 5 for ``small``):
a drive's scene is drawn once and its frames are scanned as the cars move. The peak resident memory of this
process is printed last (target: under 2 GB).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ssal.data.synthetic.calibration import IMAGE_SHAPE, kitti_calibration
from ssal.data.synthetic.generate import generate

TARGETS = {"small": 20.0, "kitti": 5.0}


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _run(preset: str, frames: int, workers: int) -> tuple[float, float, float, float, str]:
    """frames/s (wall clock), CPU ms per frame (all processes), points per frame, camera-view points per frame,
    a digest of every file written."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "data"
        started, cpu = time.perf_counter(), _cpu_seconds()
        summary = generate(out, frames=frames, seed=0, preset=preset, workers=workers)
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        calib = kitti_calibration()
        in_view = [calib.fov_mask(np.fromfile(path, np.float32).reshape(-1, 4), IMAGE_SHAPE).sum()
                   for path in sorted((out / "training" / "velodyne").glob("*.bin"))[:10]]
        digest = hashlib.sha256()
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(out)).encode() + path.read_bytes())
    return frames / seconds, 1000 * cpu / frames, summary.points / summary.frames, float(np.mean(in_view)), \
        digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--pool-frames", type=int, default=160)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"{args.frames} frames per run ({args.pool_frames} with a pool), median of {args.repeats} runs, "
          f"{os.cpu_count()} cores, "
          f"load average {load:.1f} at the start (above the core count, wall-clock rates drop)\n")
    print(f"{'preset':<7} {'processes':>9} {'frames/s':>9} {'target':>7} {'CPU ms/frame':>13} {'points/frame':>13} "
          f"{'in camera view':>15}")
    for preset in ("small", "kitti"):
        for workers in (1, args.workers):
            frames = args.frames if workers == 1 else args.pool_frames
            runs = [_run(preset, frames, workers) for _ in range(args.repeats)]
            rate = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            points, in_view = runs[0][2], runs[0][3]
            print(f"{preset:<7} {workers:>9} {rate:>9.1f} {TARGETS[preset]:>7.0f} {cpu:>13.0f} {points:>13,.0f} "
                  f"{in_view:>15,.0f}")
        same = _run(preset, args.frames, 1)[4] == _run(preset, args.frames, args.workers)[4]
        print(f"{preset:<7} same bytes with 1 and {args.workers} processes ({args.frames} frames): {same}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
