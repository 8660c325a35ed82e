"""Load time and memory of a Waymo-sized info set: OpenPCDet's processed layout with ~160k frames.

    python benchmarks/waymo_infos.py [--frames 160000] [--frames-per-sequence 200] [--boxes 60] [--keep DIR]

Writes, in a temporary folder, the per-sequence info pickles of a generated split (``--boxes`` objects per frame on
average, Poisson; Waymo's training split averages about 60 with signs; every array as OpenPCDet writes it) and an
empty point file per frame (the reader checks that each frame's file exists; it reads no points). Then, each in a
fresh process so that peak memory is its own:

* ``unpickle only``: what OpenPCDet's WaymoDataset does at start-up (read every sequence pickle), for reference;
* ``first read``: ``WaymoDataset.infos`` without an index: read the pickles, build and save the columnar index;
* ``indexed read``: ``WaymoDataset.infos`` again, from the index, at sampling intervals 1, 5 (OpenPCDet's default)
  and 20 (the paper's).

Seconds are wall clock; peak RSS is the process's maximum resident memory (``ru_maxrss``), "over imports"
subtracts what the process held after importing ssal, before reading anything, and "RSS after" is what it holds
once the infos are loaded (and still referenced).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

TAG = "waymo_processed_data_v0_5_0"
CLASSES = np.array(["Vehicle", "Pedestrian", "Cyclist", "Sign"])
CLASS_SHARE = [0.60, 0.27, 0.01, 0.12]


def _sequence_frames(name: str, frames: int, boxes: float, rng: np.random.Generator) -> list[dict]:
    objects = int(boxes * 2.5)
    ids = np.array([f"{i:022x}"[-22:] for i in rng.integers(0, 2**62, objects)])
    kinds = CLASSES[rng.choice(4, objects, p=CLASS_SHARE)]
    out = []
    for k in range(frames):
        m = min(objects, int(rng.poisson(boxes)))
        rows = np.sort(rng.choice(objects, m, replace=False))
        box = np.concatenate((rng.uniform(-75, 75, (m, 3)), rng.uniform(0.5, 5, (m, 3)), rng.uniform(-3, 3, (m, 3))),
                             axis=1)
        out.append({
            "point_cloud": {"num_features": 5, "lidar_sequence": name, "sample_idx": k},
            "frame_id": f"{name}_{k:03d}",
            "metadata": {"context_name": name, "timestamp_micros": 1_550_000_000_000_000 + 100_000 * k},
            "image": {f"image_shape_{j}": (1280, 1920) for j in range(5)},
            "pose": np.eye(4, dtype=np.float32),
            "annos": {"name": kinds[rows], "difficulty": rng.choice([0, 2], m, p=[0.9, 0.1]),
                      "dimensions": box[:, 3:6], "location": box[:, :3], "heading_angles": box[:, 6],
                      "obj_ids": ids[rows], "tracking_difficulty": np.zeros(m, dtype=np.int64),
                      "num_points_in_gt": rng.integers(0, 2000, m), "speed_global": box[:, 7:9],
                      "accel_global": np.zeros((m, 2)), "gt_boxes_lidar": box},
            "num_points_of_each_lidar": [150000, 3000, 3000, 3000, 3000],
        })
    return out


def write_dataset(root: Path, frames: int, per_sequence: int, boxes: float) -> None:
    rng = np.random.default_rng(0)
    names = []
    for index in range(0, frames, per_sequence):
        name = f"segment-{index:019d}_with_camera_labels"
        folder = root / TAG / name
        folder.mkdir(parents=True)
        sequence = _sequence_frames(name, min(per_sequence, frames - index), boxes, rng)
        (folder / f"{name}.pkl").write_bytes(pickle.dumps(sequence, protocol=4))
        for k in range(len(sequence)):
            (folder / f"{k:04d}.npy").touch()
        names.append(name)
    (root / "ImageSets").mkdir()
    (root / "ImageSets" / "train.txt").write_text("".join(f"{n}.tfrecord\n" for n in names))


def _measure(kind: str, root: str, interval: int, queue) -> None:
    from ssal.data.waymo import WaymoDataset

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if kind == "unpickle":  # as OpenPCDet: every sequence's frame dicts, kept
        infos = []
        for line in (Path(root) / "ImageSets" / "train.txt").read_text().split():
            name = line.removesuffix(".tfrecord")
            with open(Path(root) / TAG / name / f"{name}.pkl", "rb") as handle:
                infos.extend(pickle.load(handle))
    else:
        infos = WaymoDataset(root, sampled_interval={"train": interval}).infos("train")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((seconds, len(infos), peak / 1024, (peak - before) / 1024, _resident_mb()))


def _resident_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(kind: str, root: Path, interval: int = 1) -> tuple[float, int, float, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure, args=(kind, str(root), interval, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=160_000)
    parser.add_argument("--frames-per-sequence", type=int, default=200)
    parser.add_argument("--boxes", type=float, default=60.0, help="objects per frame on average")
    parser.add_argument("--keep", metavar="DIR",
                        help="write the dataset here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="waymo_infos_")) / "waymo"
    try:
        started = time.perf_counter()
        if not (root / "ImageSets" / "train.txt").is_file():
            write_dataset(root, args.frames, args.frames_per_sequence, args.boxes)
        pickles = sum(p.stat().st_size for p in (root / TAG).glob("*/*.pkl"))
        print(f"{args.frames:,} frames in {args.frames // args.frames_per_sequence} sequences, about {args.boxes:g} "
              f"objects per frame: {pickles / 1e9:.2f} GB of info pickles (written in "
              f"{time.perf_counter() - started:.0f} s); {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f}\n")
        index = root / "ssal_infos" / "waymo_index_train"
        shutil.rmtree(index, ignore_errors=True)
        rows = [("unpickle only (OpenPCDet's start-up)", measure("unpickle", root))]
        rows.append(("first read: pickles -> index", measure("infos", root)))
        print(f"index: {sum(p.stat().st_size for p in index.iterdir()) / 1e9:.2f} GB\n")
        for interval in (1, 5, 20):
            rows.append((f"indexed read, every {interval}{'st' if interval == 1 else 'th'} frame",
                         measure("infos", root, interval)))
        print(f"{'':<40}{'seconds':>9}{'frames':>10}{'peak RSS MB':>13}{'over imports':>14}{'RSS after':>11}")
        for label, (seconds, count, peak, extra, resident) in rows:
            print(f"{label:<40}{seconds:>9.2f}{count:>10,}{peak:>13,.0f}{extra:>14,.0f}{resident:>11,.0f}")
    finally:
        if not args.keep:
            shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
