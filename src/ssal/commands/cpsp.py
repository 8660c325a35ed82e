"""``ssal cpsp``: Collaborative PseudoScene Pre-training from a checkpoint and a ledger (``ssal.ssl.cpsp``)."""

from __future__ import annotations

import argparse

from ssal.commands.common import add_config_arguments, config_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser("cpsp", help="semi-supervised training on labelled frames and pseudo-scenes "
                                                "(CPSP; single process or under torchrun)")
    add_config_arguments(parser)
    parser.add_argument("--ledger", required=True, metavar="LEDGER.json", help="its labelled frames are L")
    parser.add_argument("--init-ckpt", required=True, metavar="CKPT", help="weights to start from (pretrain)")
    parser.add_argument("--out", required=True, metavar="DIR", help="run folder (database, checkpoints, metrics)")
    parser.add_argument("--final", action="store_true", help="the final stage: final lambda/K/repeat, no BACK")
    parser.add_argument("--epochs", type=int, help="override cpsp.epochs / train.epochs")
    parser.add_argument("--resume", action="store_true", help="continue from DIR/ckpt/latest.pth")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ssal.engine import distributed_session
    from ssal.errors import SsalError
    from ssal.run_lock import distributed_lock
    from ssal.ssl.cpsp import run_cpsp

    if args.epochs is not None and args.epochs < 1:
        raise SsalError(f"expected an integer >= 1, got {args.epochs}", "--epochs")
    config = config_from_args(args)
    with distributed_session() as dist, distributed_lock(args.out, "ssal cpsp", dist):
        checkpoint = run_cpsp(config, args.ledger, args.init_ckpt, args.out, final=args.final, epochs=args.epochs,
                              resume=args.resume, dist=dist)
        if dist.is_main:
            print(f"CPSP trained {config.model.name}: {checkpoint}")
    return 0
