"""Stress test of distributed exits: N two-process ``torchrun`` trainings of the tiny config on a few frames.

A training that succeeds must also *exit* 0 on every rank. Before the shutdown fix about 1 run in 10 ended with
``terminate called without an active exception`` (SIGABRT in a gloo thread at interpreter exit). This script
starts ``--runs`` independent trainings one after another and counts the runs whose torchrun exit status is not 0,
printing the tail of the first failure.

    python benchmarks/torchrun_stress.py --data-root ../shared/data/kitti_sample --runs 30

Each run is short (one epoch, batch 1, 2 processes on 1 thread each: about 10 s on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "synthetic" / "tiny.yaml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun_train(data_root: Path, out: Path, epochs: int = 1, timeout_s: float = 300.0
                   ) -> subprocess.CompletedProcess:
    """One 2-process ``torchrun -m ssal train`` of the tiny config into ``out``."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", "-m", "ssal", "train", "--config", str(TINY),
               "--data-root", str(data_root), "--out", str(out), "--epochs", str(epochs),
               "--set", "train.batch_size=1", "--set", "train.workers=0", "--set", "train.log_interval=1"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data" / "kitti_sample")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    failures, first_failure, seconds = 0, None, []
    with tempfile.TemporaryDirectory(prefix="ssal_torchrun_stress_") as scratch:
        for run in range(args.runs):
            start = time.perf_counter()
            done = torchrun_train(args.data_root, Path(scratch) / f"run{run}", args.epochs)
            seconds.append(time.perf_counter() - start)
            ok = done.returncode == 0 and "trained " in done.stdout
            failures += not ok
            if not ok and first_failure is None:
                first_failure = (run, done.returncode, (done.stdout + done.stderr)[-2000:])
            print(f"run {run + 1:3d}/{args.runs}: exit {done.returncode} in {seconds[-1]:.1f} s"
                  f"{'' if ok else '  FAILED'}", flush=True)
    print(f"\n{failures} failures in {args.runs} runs (mean {sum(seconds) / len(seconds):.1f} s per run)")
    if first_failure is not None:
        run, code, tail = first_failure
        print(f"first failure: run {run + 1}, exit {code}\n{tail}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
