"""``ssal demo``: the main job on the built-in synthetic world, ending with a results table (``make demo``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "synthetic" / "cpu.yaml"


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="generate a synthetic world, train on it, evaluate (resumable)")
    parser.add_argument("--out", default="runs/demo", metavar="DIR", help="demo folder (default runs/demo)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), metavar="FILE",
                        help="run config (default configs/synthetic/cpu.yaml)")
    parser.add_argument("--train-frames", type=int, default=200)
    parser.add_argument("--val-frames", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ssal.eval import format_kitti_table
    from ssal.pipeline.demo import DemoSettings, run_demo

    start = time.monotonic()
    settings = DemoSettings(out=Path(args.out), config=Path(args.config), train_frames=args.train_frames,
                            val_frames=args.val_frames, epochs=args.epochs, seed=args.seed)
    metrics = run_demo(settings)
    print(format_kitti_table(metrics))
    out = settings.out
    print(f"\noutputs in {out}: world/ (KITTI layout), train/ (checkpoints, metrics.jsonl, config.yaml), "
          f"eval/ (results/*.txt, predictions.pkl, metrics.json)")
    print(f"wall time {time.monotonic() - start:.0f} s")
    return 0
