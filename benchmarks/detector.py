"""Speed of pillar_rcnn per run preset on frames of the synthetic world, through the real loader and augmentation.

    python benchmarks/detector.py [--configs tiny,cpu] [--repeats 7] [--batch 4] [--threads 2] [--frames 16]
                                  [--data DIR] [--baseline SRC] [--points] [--device cpu|cuda]

Frames: ``--data`` (a KITTI-layout folder, e.g. one ``ssal synth`` wrote), else ``--frames`` frames of the
synthetic ``kitti`` preset generated into a temporary folder. Each preset is a run config of ``configs/synthetic``
(``tiny``, ``cpu``): its training set is built as a training run builds it (object bank from the frames,
copy-paste, flip, rotation, scaling; ``ssal.pipeline.supervised.build_training_set``) and read by a ``DataLoader``
in this process.

For each preset, in its own subprocess with ``--threads`` intra-op threads:

* loader ms per batch (reading, ground plane, copy-paste and augmentation, collation; ``workers: 0``);
* training frames/s of the model step (forward, targets, losses, backward, gradient clipping, AdamW step),
  medians over ``--repeats`` batches after warm-up, and where a step spends its time (forward parts, backward,
  optimiser); inference frames/s and its parts;
* **FLOP efficiency**: FLOPs of one training step (``torch.utils.flop_counter``: convolutions and matrix
  products, forward and backward) divided by its median time, over the FLOP/s of a 2048 x 2048 float32 matmul
  timed in the same process on the same threads: the share of the machine's dense-math speed the step uses;
* with ``--points``: the share of in-range points and of Car points the pillar encoder keeps, and how much higher
  the kept points' mean z lies than all points' (a cap that keeps file order keeps the top laser rings).

``--baseline DIR`` runs every preset a second time with another checkout's code and configs (``DIR/src``,
``DIR/configs``; e.g. ``git archive <commit> src configs | tar -x -C /tmp/base``), alternating with the current
code, and prints the ratios:
before/after in one run on one machine. On a shared machine the ``foreign cores`` column says how many cores
other processes kept busy while timing; above ~0.2, two intra-op threads stall and the rates understate the model.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"tiny": (10.0, None), "cpu": (2.0, 8.0)}  # training and inference frames/s at batch 4 (README)

# What a step is broken into: functions pillar_rcnn calls by name, and methods / modules of its parts. Names a
# version of the code does not have are skipped, so a baseline checkout is broken down the same way.
FUNCTIONS = {"pillarise": "pillarize", "scatter to BEV": "scatter_to_bev", "proposals (top-k, NMS)": "propose",
             "RoI sampling": "sample_roi_targets", "RoI point grid": "roi_point_grid"}
METHODS = {"RPN targets": ("anchor_head", "assign_targets"), "RPN loss": ("anchor_head", "loss"),
           "RPN decode": ("anchor_head", "decode"), "RoI loss": ("roi_head", "loss"),
           "backbone": ("backbone", "forward_pillars")}  # the module hook below times a backbone called on a canvas
MODULES = {"PFN": "vfe", "backbone": "backbone", "RPN head": "anchor_head", "RoI head": "roi_head"}


def _busy_jiffies() -> int:
    """CPU time (clock ticks) all processes spent busy, from /proc/stat (0 where it does not exist)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return 0
    return sum(fields) - fields[3] - fields[4]  # minus idle and iowait


class ForeignLoad:
    """Average number of cores other processes kept busy between ``start`` and ``stop``."""

    def start(self) -> None:
        self.busy, self.own, self.wall = _busy_jiffies(), sum(os.times()[:2]), time.perf_counter()

    def stop(self) -> float:
        wall = time.perf_counter() - self.wall
        others = (_busy_jiffies() - self.busy) / os.sysconf("SC_CLK_TCK") - (sum(os.times()[:2]) - self.own)
        return max(0.0, others / max(wall, 1e-9))


class StageTimer:
    """Wall milliseconds per named stage of the detector's forward pass, by wrapping its parts (see FUNCTIONS,
    METHODS, MODULES); ``sync`` waits for the device so that GPU time lands in the right stage."""

    def __init__(self, model, sync):
        self.sync, self.times, self._undo = sync, {}, []
        import ssal.models.pillar_rcnn as detector_module

        for stage, name in FUNCTIONS.items():
            if hasattr(detector_module, name):
                self._wrap(detector_module, name, stage)
        for stage, (part, name) in METHODS.items():
            owner = getattr(model, part)
            if hasattr(owner, name):
                self._wrap(owner, name, stage, instance=True)
        for stage, part in MODULES.items():
            self._hook(getattr(model, part), stage)

    def add(self, stage: str, seconds: float) -> None:
        self.times.setdefault(stage, []).append(seconds * 1000)

    def _wrap(self, owner, name: str, stage: str, instance: bool = False) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            self.sync()
            start = time.perf_counter()
            out = original(*args, **kwargs)
            self.sync()
            self.add(stage, time.perf_counter() - start)
            return out

        setattr(owner, name, timed)
        self._undo.append(lambda: delattr(owner, name) if instance else setattr(owner, name, original))

    def _hook(self, module, stage: str) -> None:
        def before(*_):
            self.sync()
            module._bench_start = time.perf_counter()

        def after(*_):
            self.sync()
            self.add(stage, time.perf_counter() - module._bench_start)

        self._undo += [module.register_forward_pre_hook(before).remove, module.register_forward_hook(after).remove]

    def close(self) -> None:
        for undo in reversed(self._undo):
            undo()

    def medians(self, steps: int) -> dict[str, float]:
        """Median ms per step of each stage (a stage called k times per step counts its k calls together)."""
        out = {}
        for stage, values in self.times.items():
            k = len(values) // steps if len(values) % steps == 0 else 0
            out[stage] = statistics.median(sum(values[i * k:(i + 1) * k]) for i in range(steps)) if k else \
                statistics.median(values)
        return out


def _matmul_flops(device: str, sync, repeats: int = 10) -> float:
    """FLOP/s of a 2048 x 2048 float32 matmul on this process's threads (median of ``repeats``)."""
    a, b = torch.randn(2048, 2048, device=device), torch.randn(2048, 2048, device=device)
    times = []
    for _ in range(repeats + 2):
        sync()
        start = time.perf_counter()
        torch.mm(a, b)
        sync()
        times.append(time.perf_counter() - start)
    return 2 * 2048**3 / statistics.median(times[2:])


def _points_kept(dataset, cfg) -> dict[str, float]:
    """Share of in-range and Car points the pillar encoder keeps over the frames of ``dataset`` (no augmentation),
    and the kept points' mean z minus all points' (all points; Car points)."""
    from ssal.geometry import points_in_boxes_index
    from ssal.models.pillar_vfe import pillarize

    sums = dict.fromkeys(["points", "kept", "car", "car_kept", "z", "z_kept", "car_z", "car_z_kept"], 0.0)
    for index in range(len(dataset)):
        item = dataset[index]
        points = torch.from_numpy(item["points"])
        rows = torch.cat((torch.zeros(len(points), 1), points), dim=1)
        pillars = pillarize(rows, cfg, cfg.vfe.max_pillars_test)
        kept = torch.zeros(len(points), dtype=torch.bool)
        if hasattr(pillars, "source_index"):
            kept[pillars.source_index] = True
        else:  # older code: find the kept rows through an index column carried as a feature
            indexed = torch.cat((rows, torch.arange(len(points), dtype=torch.float32)[:, None]), dim=1)
            kept[pillarize(indexed, cfg, cfg.vfe.max_pillars_test).points[:, -1].long()] = True
        boxes = torch.from_numpy(item["gt_boxes"])
        cars = boxes[boxes[:, 7] == 1, :7]
        car = points_in_boxes_index(points[:, :3], cars) >= 0 if len(cars) else torch.zeros_like(kept)
        z = points[:, 2].double()
        for key, value in (("points", len(points)), ("kept", kept.sum()), ("car", car.sum()),
                           ("car_kept", (car & kept).sum()), ("z", z.sum()), ("z_kept", z[kept].sum()),
                           ("car_z", z[car].sum()), ("car_z_kept", z[car & kept].sum())):
            sums[key] += float(value)
    car, car_kept = max(sums["car"], 1), max(sums["car_kept"], 1)
    return {"points kept": sums["kept"] / sums["points"], "Car points kept": sums["car_kept"] / car,
            "kept z - all z (m)": sums["z_kept"] / sums["kept"] - sums["z"] / sums["points"],
            "Car: kept z - all z (m)": sums["car_z_kept"] / car_kept - sums["car_z"] / car}


def run_preset(name: str, root: Path, data: str, repeats: int, batch_size: int, device: str, threads: int,
               points: bool) -> dict:
    from ssal.config import load_config
    from ssal.data.datasets import dataset_from_config
    from ssal.data.loader import DetectionDataset, collate
    from ssal.engine.optim import build_optimizer
    from ssal.models import build_detector
    from ssal.pipeline.supervised import build_training_set

    torch.set_num_threads(threads)
    try:  # as training and inference do on CPU (a baseline checkout without it runs as it did)
        from ssal.engine.host_memory import keep_freed_memory
    except ImportError:
        pass
    else:
        if device == "cpu":
            keep_freed_memory()
    config = load_config(root / "configs" / "synthetic" / f"{name}.yaml", [f"data.root={data}"])
    cfg = config.model
    reader = dataset_from_config(config.data)
    infos = reader.infos("train")
    train_set = build_training_set(config, reader, infos)
    loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True, collate_fn=collate,
                                         num_workers=0, drop_last=True, generator=torch.Generator().manual_seed(0))
    warmup, needed = 2, repeats + 2
    batches, load_ms = [], []
    while len(batches) < needed:
        start = time.perf_counter()
        for batch in loader:
            load_ms.append((time.perf_counter() - start) * 1000)
            batches.append({k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()})
            if len(batches) == needed:
                break
            start = time.perf_counter()

    def sync():
        if device != "cpu":
            torch.cuda.synchronize()

    model = build_detector(cfg, seed=0).to(device)
    optimiser = build_optimizer(model, config.train)
    clip = config.train.grad_clip_norm if config.train.grad_clip_norm > 0 else float("inf")

    def train_step(batch, timer=None):
        model.train()
        start = time.perf_counter()
        loss, _ = model(batch)
        sync()
        middle = time.perf_counter()
        loss.backward()
        sync()
        after = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        sync()
        if timer is not None:
            timer.add("forward (all)", middle - start)
            timer.add("backward", after - middle)
            timer.add("optimiser (clip, AdamW)", time.perf_counter() - after)
        return time.perf_counter() - start

    def infer(batch):
        model.eval()
        start = time.perf_counter()
        with torch.no_grad():
            model(batch)
        sync()
        return time.perf_counter() - start

    for batch in batches[:warmup]:
        train_step(batch)
        infer(batch)
    load = ForeignLoad()
    load.start()
    train_times = [train_step(batch) for batch in batches[warmup:]]
    infer_times = [infer(batch) for batch in batches[warmup:]]
    foreign = load.stop()

    steps = len(batches) - warmup
    timer = StageTimer(model, sync)
    for batch in batches[warmup:]:
        train_step(batch, timer)
    train_parts = timer.medians(steps)
    timer.times = {}
    for batch in batches[warmup:]:
        start = time.perf_counter()
        infer(batch)
        timer.add("forward (all)", time.perf_counter() - start)
    infer_parts = timer.medians(steps)
    timer.close()

    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    counter = FlopCounterMode(display=False)
    with counter:
        loss, _ = model(batches[warmup])
        loss.backward()
    optimiser.zero_grad(set_to_none=True)
    flops = counter.get_total_flops()
    matmul = _matmul_flops(device, sync)
    step_s = statistics.median(train_times)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2 if device == "cpu"
            else torch.cuda.max_memory_allocated() / 1024**3)
    result = {
        "preset": name, "grid": "x".join(map(str, cfg.grid_size)),
        "points/frame": round(sum(len(b["points"]) for b in batches) / (len(batches) * batch_size)),
        "loader ms/batch": statistics.median(load_ms),
        "train frames/s": batch_size / step_s, "infer frames/s": batch_size / statistics.median(infer_times),
        "GFLOP/step": flops / 1e9, "step GFLOP/s": flops / step_s / 1e9, "matmul GFLOP/s": matmul / 1e9,
        "FLOP efficiency": flops / step_s / matmul, "foreign cores": foreign,
        "peak RSS (GB)" if device == "cpu" else "peak GPU memory (GB)": peak,
        "train parts": train_parts, "infer parts": infer_parts,
    }
    if points:
        result["points"] = _points_kept(DetectionDataset(reader, infos, cfg.class_names, cfg.point_cloud_range), cfg)
    return result


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _cell(value) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def report(rows: list[dict]) -> str:
    memory = "peak RSS (GB)" if "peak RSS (GB)" in rows[0] else "peak GPU memory (GB)"
    keys = ["preset", "code", "grid", "points/frame", "loader ms/batch", "train frames/s", "infer frames/s",
            "GFLOP/step", "step GFLOP/s", "matmul GFLOP/s", "FLOP efficiency", memory, "foreign cores"]
    out = [_table(keys + ["target train / infer"],
                  [[_cell(r[k]) for k in keys] + ["{} / {}".format(*(t or "-" for t in TARGETS.get(r["preset"],
                                                                                                  (None, None))))]
                   for r in rows])]
    labels = [f"{r['preset']} {r['code']}" for r in rows]
    for part, title in (("train parts", "Training step"), ("infer parts", "Inference pass")):
        stages = list(dict.fromkeys(s for r in rows for s in r[part]))
        stages.sort(key=lambda s: s in ("forward (all)", "backward", "optimiser (clip, AdamW)"))
        out += ["", f"{title}, ms per batch (median; forward parts are inside 'forward (all)'):", "",
                _table(["stage"] + labels, [[s] + [f"{r[part][s]:.1f}" if s in r[part] else "-" for r in rows]
                                            for s in stages])]
    if any("points" in r for r in rows):
        keys = list(next(r["points"] for r in rows if "points" in r))
        out += ["", "Points the pillar encoder keeps (frames without augmentation):", "",
                _table(["preset"] + keys, [[label] + [f"{r['points'][k]:.3f}" for k in keys]
                                           for label, r in zip(labels, rows) if "points" in r])]
    baseline = {r["preset"]: r for r in rows if r["code"] == "baseline"}
    pairs = [(r, baseline[r["preset"]]) for r in rows if r["code"] == "current" and r["preset"] in baseline]
    if pairs:
        keys = ["train frames/s", "infer frames/s", "FLOP efficiency", "loader ms/batch"]
        out += ["", "Current / baseline, same run:", "",
                _table(["preset"] + keys, [[r["preset"]] + [f"{r[k] / b[k]:.2f}x" for k in keys] for r, b in pairs])]
    return "\n".join(out)


def _synthetic_world(frames: int, folder: str) -> str:
    from ssal.data.synthetic.generate import generate

    generate(Path(folder) / "world", frames=frames, seed=0, preset="kitti")
    return str(Path(folder) / "world")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="tiny,cpu", help="comma-separated run configs from configs/synthetic")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=16, help="synthetic frames to generate when --data is not given")
    parser.add_argument("--data", help="a KITTI-layout dataset folder to read instead")
    parser.add_argument("--baseline", help="another checkout (src/, configs/) to compare against in the same run")
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--points", action="store_true", help="also measure the points the pillar encoder keeps")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_preset(args.worker, Path(args.root), args.data, args.repeats, args.batch, args.device,
                                    args.threads, args.points)))
        return
    with contextlib.ExitStack() as stack:
        data = args.data or _synthetic_world(args.frames, stack.enter_context(tempfile.TemporaryDirectory()))
        codes = [("baseline", Path(args.baseline).resolve()), ("current", ROOT)] if args.baseline else \
            [("current", ROOT)]
        rows, load_before = [], os.getloadavg()[0]
        for name in args.configs.split(","):
            for code, root in codes:
                env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=str(root / "src"))
                command = [sys.executable, __file__, "--worker", name, "--root", str(root), "--data", data,
                           "--repeats", str(args.repeats),
                           "--batch", str(args.batch), "--threads", str(args.threads), "--device", args.device]
                result = subprocess.run(command + (["--points"] if args.points else []), capture_output=True,
                                        text=True, env=env)
                if result.returncode:
                    sys.exit(f"preset {name} ({code}) failed:\n{result.stderr}")
                rows.append(dict(json.loads(result.stdout.strip().splitlines()[-1]), code=code))
    where = f"{args.threads} CPU threads" if args.device == "cpu" else torch.cuda.get_device_name()
    print(f"pillar_rcnn, batch {args.batch}, {where}, torch {torch.__version__}, medians of {args.repeats} batches of "
          f"{'--data ' + args.data if args.data else f'{args.frames} synthetic kitti-preset frames'}; 1-min load "
          f"average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print(report(rows))
    busy = [f"{r['preset']} {r['code']}" for r in rows if r["foreign cores"] > 0.2]
    if busy:
        print(f"\nwarning: other processes kept > 0.2 cores busy while timing {', '.join(busy)}; two intra-op threads "
              "stall badly when one of them is descheduled, so these numbers understate the model: rerun when quiet.")


if __name__ == "__main__":
    main()
