"""``ssal demo``: S-SSAL on the built-in synthetic world beside the random + normal baseline (``make demo``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "synthetic" / "s_ssal_tiny.yaml"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="S-SSAL on a small synthetic world, beside random + normal (resumable)",
        description="Generates a small synthetic world, runs the S-SSAL pipeline of the config on it (`ssal run`) "
                    "and the random + normal baseline of the same budget, then prints a table and writes "
                    "OUT/report/index.html. Run it again to continue where it stopped.")
    parser.add_argument("--out", default="runs/demo", metavar="DIR", help="demo folder (default runs/demo)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), metavar="FILE",
                        help="pipeline config (default configs/synthetic/s_ssal_tiny.yaml)")
    parser.add_argument("--train-frames", type=int, default=100)
    parser.add_argument("--val-frames", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value of both runs (repeatable)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ssal.pipeline.demo import DemoSettings, format_demo_table, run_demo
    from ssal.run_lock import RunLock

    start = time.monotonic()
    settings = DemoSettings(out=Path(args.out), config=Path(args.config), train_frames=args.train_frames,
                            val_frames=args.val_frames, seed=args.seed, overrides=tuple(args.overrides))
    with RunLock(settings.out, "ssal demo"):  # the world and both run folders are written under it
        result = run_demo(settings)
    print()
    print(format_demo_table(result))
    print(f"\nreport: {result.report}")
    print(f"runs: {', '.join(str(p) for p in result.runs.values())} (manifest.json, ledger.json, eval/, "
          f"report/ in each); world: {settings.out / 'world'}")
    print(f"wall time {time.monotonic() - start:.0f} s")
    return 0
