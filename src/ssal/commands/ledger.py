"""``ssal ledger init`` (a ledger with its random initial set) and ``ssal ledger show``."""

from __future__ import annotations

import argparse

from ssal.commands.common import add_config_arguments, config_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser("ledger", help="the budget ledger: labelled frames, rounds, spend")
    commands = parser.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)

    init = commands.add_parser("init", help="start a ledger with a seeded random initial set under a budget",
                               description="Start a ledger for the config's train split: random frames in a "
                                           "seeded order until the next one would exceed the budget.")
    add_config_arguments(init)
    init.add_argument("--budget", type=int, help="initial budget (default: active.initial_budget)")
    init.add_argument("--unit", choices=("boxes", "frames"), help="budget unit (default: active.unit)")
    init.add_argument("--seed", type=int, help="seed of the random order (default: the config's train.seed)")
    init.add_argument("--out", required=True, metavar="LEDGER.json", help="where to write the ledger")
    init.add_argument("--no-oracle", action="store_true",
                      help="people annotate: write the frames to label and wait for `ssal import-labels` "
                           "(needs --unit frames)")
    init.set_defaults(run=run_init)

    show = commands.add_parser("show", help="rounds, spend and share of the pool")
    show.add_argument("ledger", metavar="LEDGER.json")
    show.add_argument("--round", type=int, help="show the state after this round")
    show.add_argument("--out", metavar="LEDGER.json",
                      help="with --round: write that state as a new ledger, to continue the run from there")
    show.set_defaults(run=run_show)


def run_init(args: argparse.Namespace) -> int:
    from ssal.active.budget import Budget
    from ssal.active.workflow import init_ledger
    from ssal.run_lock import RunLock

    config = config_from_args(args)
    settings = config.active
    budget = Budget(args.budget if args.budget is not None else settings.initial_budget, args.unit or settings.unit)
    seed = config.train.seed if args.seed is None else args.seed
    with RunLock.beside(args.out, "ssal ledger init"):
        ledger = init_ledger(config, budget, seed, args.out, oracle=not args.no_oracle)
    print(ledger.summary())
    if args.no_oracle:
        print(f"annotate the {len(ledger.rounds[0].frames)} frames of round 0 (listed in {args.out}), then run "
              f"`ssal import-labels --ledger {args.out} --labels LABEL_DIR`")
    print(f"wrote {args.out}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from ssal.active.ledger import Ledger
    from ssal.errors import SsalError
    from ssal.run_lock import RunLock

    ledger = Ledger.load(args.ledger)
    if args.out and args.round is None:
        raise SsalError("--out writes the state after a round: give --round too", "--out")
    if args.round is not None:
        ledger = ledger.at_round(args.round)
    print(ledger.summary())
    if args.out:
        with RunLock.beside(args.out, "ssal ledger show --out"):
            ledger.save(args.out)
        print(f"wrote {args.out}")
    return 0
