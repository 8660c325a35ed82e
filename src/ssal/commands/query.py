"""``ssal query``: rank the unlabelled pool with a strategy and buy a round of labels (or ask people for them)."""

from __future__ import annotations

import argparse

from ssal.commands.common import add_config_arguments, config_from_args


def register(subparsers) -> None:
    from ssal.active.strategies import STRATEGY_NAMES

    parser = subparsers.add_parser(
        "query", help="rank the unlabelled pool and buy the next round of labels",
        description="Score the unlabelled pool with a model, rank it with a strategy, write "
                    "OUT/query_round_K.csv and .json (every frame with the evidence for its place), then buy "
                    "along the ranking through the simulated oracle and update the ledger; with --no-oracle the "
                    "chosen frames wait for `ssal import-labels`.")
    add_config_arguments(parser)
    parser.add_argument("--ledger", required=True, metavar="LEDGER.json")
    parser.add_argument("--ckpt", metavar="FILE", help="the model that scores the pool (CAL: the CPSP model)")
    parser.add_argument("--strategy", help=f"one of {', '.join(STRATEGY_NAMES)} (default: active.strategy)")
    parser.add_argument("--budget", type=int, help="round budget (default: active.round_budget)")
    parser.add_argument("--unit", choices=("boxes", "frames"), help="budget unit (default: active.unit)")
    parser.add_argument("--partner-ckpt", metavar="FILE", help="CAL: the normally trained model of the cascade")
    parser.add_argument("--outputs", metavar="DIR", help="use saved pool predictions instead of running --ckpt")
    parser.add_argument("--partner-outputs", metavar="DIR", help="saved predictions of the partner model")
    parser.add_argument("--seed", type=int, help="strategy seed (default: the config's train.seed)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the ranking and pool predictions")
    parser.add_argument("--no-oracle", action="store_true",
                        help="stop after the ranking: the chosen frames wait for `ssal import-labels`")
    parser.set_defaults(run=run_query)


def run_query(args: argparse.Namespace) -> int:
    from ssal.active.budget import Budget
    from ssal.active.workflow import query
    from ssal.engine.distributed import distributed_session
    from ssal.run_lock import distributed_lock

    config = config_from_args(args)
    settings = config.active
    budget = Budget(args.budget if args.budget is not None else settings.round_budget, args.unit or settings.unit)
    with distributed_session() as dist, distributed_lock(args.out, "ssal query", dist), \
            distributed_lock(args.ledger, "ssal query", dist, beside=True):
        result = query(config, args.ledger, args.strategy or settings.strategy, budget, args.out, ckpt=args.ckpt,
                       partner_ckpt=args.partner_ckpt, outputs=args.outputs, partner_outputs=args.partner_outputs,
                       oracle=not args.no_oracle, seed=args.seed, dist=dist)
    item = result.round
    if item.is_pending:
        print(f"round {item.index}: {len(item.frames)} frames to annotate, expected cost "
              f"{sum(item.expected_costs):g} {budget.unit}; then run "
              f"`ssal import-labels --ledger {args.ledger} --labels LABEL_DIR`")
    else:
        print(f"round {item.index}: bought {len(item.frames)} frames, {sum(item.frame_costs('boxes'))} boxes "
              f"(budget {budget})")
    for path in result.files:
        print(f"wrote {path}")
    return 0
