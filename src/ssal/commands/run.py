"""``ssal run``: the whole S-SSAL pipeline (or a baseline variant) of a config in one resumable run folder."""

from __future__ import annotations

import argparse

from ssal.commands.common import add_config_arguments, config_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run the pipeline of a config: init, pretrain, cpsp, query, final, final_cpsp, evaluate",
        description="Runs the stages of the config's pipeline in one run folder (manifest.json, ledger.json, one "
                    "folder per stage, eval/, report/index.html). Run it again to continue: complete stages are "
                    "skipped, an interrupted training continues from its last checkpoint; a config changed under "
                    "a complete stage is refused unless --from says where to restart. Works under torchrun.")
    add_config_arguments(parser)
    parser.add_argument("--out", required=True, metavar="RUN", help="run folder")
    parser.add_argument("--from", dest="from_stage", metavar="STAGE",
                        help="redo STAGE and every stage after it (the stages before it must be complete)")
    parser.add_argument("--until", metavar="STAGE", help="stop after STAGE")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ssal.engine.distributed import distributed_session
    from ssal.pipeline.run import run_pipeline
    from ssal.run_lock import distributed_lock

    config = config_from_args(args)
    with distributed_session() as dist, distributed_lock(args.out, "ssal run", dist):
        run_pipeline(config, args.out, config_file=args.config, from_stage=args.from_stage, until=args.until,
                     dist=dist)
    return 0
