"""``ssal data info`` and ``ssal data create-infos``."""

from __future__ import annotations

import argparse

from ssal.commands.common import add_dataset_arguments, dataset_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="inspect a dataset and write its info files")
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    info = commands.add_parser("info", help="frames per split, boxes per class and difficulty, points per frame")
    add_dataset_arguments(info)
    info.add_argument("--splits", help="comma-separated splits (default: every ImageSets/*.txt)")
    info.set_defaults(run=run_info)

    create = commands.add_parser("create-infos", help="write ssal info files (labels, calibration, points in boxes)")
    add_dataset_arguments(create)
    create.add_argument("--splits", help="comma-separated splits (default: every ImageSets/*.txt)")
    create.add_argument("--out", metavar="DIR", help="output folder (default: ROOT/ssal_infos)")
    create.set_defaults(run=run_create_infos)


def _splits(args: argparse.Namespace, dataset) -> list[str]:
    return args.splits.split(",") if args.splits else dataset.available_splits()


def run_info(args: argparse.Namespace) -> int:
    from ssal.data.summary import format_summary, summarize_split

    dataset, classes = dataset_from_args(args)
    summaries = []
    for split in _splits(args, dataset):
        path = dataset.info_path(split)
        infos = dataset.infos(split, progress=True, count_points=False)
        summaries.append(summarize_split(dataset, split, infos, str(path) if path else "raw files"))
    print(f"{dataset.name} dataset at {dataset.root}")
    print(format_summary(summaries, classes))
    return 0


def run_create_infos(args: argparse.Namespace) -> int:
    from ssal.data.create_infos import create_infos

    dataset, _ = dataset_from_args(args)
    for path in create_infos(dataset, _splits(args, dataset), args.out):
        print(f"wrote {path}")
    return 0
