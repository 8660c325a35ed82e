"""``ssal train``: supervised training of the configured detector."""

from __future__ import annotations

import argparse

from ssal.commands.common import add_config_arguments, config_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train the configured detector (single process or under torchrun)")
    add_config_arguments(parser)
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (checkpoints, metrics, config)")
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/ckpt/latest.pth")
    parser.add_argument("--overwrite", action="store_true",
                        help="start again in a RUN_DIR that holds a run (its checkpoints and metrics are deleted)")
    parser.add_argument("--ledger", metavar="LEDGER.json",
                        help="train on the labelled frames of this ledger (copy-paste bank from them only)")
    parser.add_argument("--init-from", metavar="CKPT", help="start from these weights instead of from scratch")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ssal.engine import distributed_session
    from ssal.pipeline.supervised import train_detector
    from ssal.run_lock import distributed_lock

    extra = [] if args.epochs is None else [(f"train.epochs={args.epochs}", f"--epochs {args.epochs}")]
    config = config_from_args(args, extra)
    frame_ids = _labelled_frames(args.ledger, config) if args.ledger else None
    with distributed_session() as dist, distributed_lock(args.out, "ssal train", dist):
        checkpoint = train_detector(config, args.out, frame_ids, resume=args.resume, overwrite=args.overwrite,
                                    init_from=args.init_from, dist=dist)
        if dist.is_main:
            print(f"trained {config.model.name}: {checkpoint}")
    return 0


def _labelled_frames(path: str, config) -> list[str]:
    """The labelled frames of a ledger, after checking that it was made for this config's pool and classes."""
    from ssal.active.workflow import load_ledger, open_pool

    return list(load_ledger(path, open_pool(config)).labelled)
