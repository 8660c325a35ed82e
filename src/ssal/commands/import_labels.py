"""``ssal import-labels``: record what people annotated for the round that waits for labels."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "import-labels", help="add the annotations of the round waiting for labels to the ledger",
        description="Read LABEL_DIR/<frame id>.txt (KITTI label format) for every frame of the pending round, "
                    "record each frame's boxes per class, and complete the round. Every requested frame must "
                    "have its file.")
    parser.add_argument("--ledger", required=True, metavar="LEDGER.json")
    parser.add_argument("--labels", required=True, metavar="LABEL_DIR")
    parser.set_defaults(run=run_import)


def run_import(args: argparse.Namespace) -> int:
    from ssal.active.workflow import import_label_files
    from ssal.run_lock import RunLock

    with RunLock.beside(args.ledger, "ssal import-labels"):
        item = import_label_files(args.ledger, args.labels)
    print(f"round {item.index}: {len(item.frames)} frames labelled, {sum(item.frame_costs('boxes'))} boxes")
    print(f"updated {args.ledger}")
    return 0
