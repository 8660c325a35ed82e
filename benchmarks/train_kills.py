"""Kill -9 anywhere: ``ssal train`` killed at random moments and resumed ends exactly like an uninterrupted run.

For each of ``--kills`` trials, a tiny-config training (a few epochs on the KITTI sample's 5 train frames) is
started, SIGKILLed after a random delay spread over the length of a whole run (so kills land in set-up, steps,
checkpoint and metrics writes, or after the end), then resumed with ``--resume`` until it finishes. Compared with
one uninterrupted run: the final weights (bit for bit), the metrics log (every line, time fields aside), the
checkpoint files; and no temporary file may be left.

    python benchmarks/train_kills.py --kills 10
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "synthetic" / "tiny.yaml"
VOLATILE = ("time", "seconds", "frames_per_s")


def command(data_root: Path, out: Path, epochs: int, resume: bool) -> list[str]:
    return [sys.executable, "-m", "ssal", "train", "--config", str(TINY), "--data-root", str(data_root),
            "--out", str(out), "--epochs", str(epochs), "--set", "train.batch_size=1", "--set", "train.workers=0",
            "--set", "train.log_interval=1", *(["--resume"] if resume else [])]


def environment() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))


def run_to_end(data_root: Path, out: Path, epochs: int, resume: bool) -> float:
    start = time.perf_counter()
    done = subprocess.run(command(data_root, out, epochs, resume), capture_output=True, text=True,
                          env=environment(), timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"training in {out} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def kill_after(data_root: Path, out: Path, epochs: int, delay: float) -> bool:
    """Start a training and SIGKILL it after ``delay`` seconds; returns whether it was still running."""
    process = subprocess.Popen(command(data_root, out, epochs, resume=out.exists()), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=environment())
    try:
        process.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True


def metrics(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in VOLATILE} for line in lines]


def same_weights(a: Path, b: Path) -> bool:
    left = torch.load(a / "ckpt" / "latest.pth", weights_only=True)["model_state"]
    right = torch.load(b / "ckpt" / "latest.pth", weights_only=True)["model_state"]
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data" / "kitti_sample")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    good = 0
    with tempfile.TemporaryDirectory(prefix="ssal_train_kills_") as scratch:
        reference = Path(scratch) / "reference"
        length = run_to_end(args.data_root, reference, args.epochs, resume=False)
        print(f"uninterrupted run: {length:.1f} s", flush=True)
        for trial in range(args.kills):
            run = Path(scratch) / f"killed{trial}"
            delay = rng.uniform(0.5, length)
            killed = kill_after(args.data_root, run, args.epochs, delay)
            run_to_end(args.data_root, run, args.epochs, resume=True)
            leftovers = sorted(str(p.relative_to(run)) for p in run.rglob("*.tmp"))
            checks = {
                "weights": same_weights(reference, run),
                "metrics": metrics(reference) == metrics(run),
                "checkpoints": sorted(p.name for p in (reference / "ckpt").iterdir())
                == sorted(p.name for p in (run / "ckpt").iterdir()),
                "no temporary files": not leftovers,
                "no lock left": not (run / "ssal.lock").exists(),
            }
            ok = all(checks.values())
            good += ok
            failed = [name for name, passed in checks.items() if not passed]
            print(f"kill {trial + 1:2d}/{args.kills} after {delay:5.1f} s ({'killed' if killed else 'had finished'}): "
                  f"{'identical' if ok else 'DIFFERS: ' + ', '.join(failed)}", flush=True)
    print(f"\n{good}/{args.kills} killed-and-resumed runs identical to the uninterrupted one")
    return 0 if good == args.kills else 1


if __name__ == "__main__":
    sys.exit(main())
