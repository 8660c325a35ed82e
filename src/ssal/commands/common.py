"""Arguments shared by many commands: which config, which dataset."""

from __future__ import annotations

import argparse
from typing import Sequence

from ssal.config import Config, load_config
from ssal.errors import SsalError


def add_config_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--config", required=required, metavar="FILE", help="run config (YAML)")
    parser.add_argument("--data-root", metavar="DIR", help="dataset folder (overrides data.root)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=10 (repeatable)")


def config_from_args(args: argparse.Namespace, extra: Sequence[tuple[str, str]] = ()) -> Config:
    """The config of ``--config`` with ``--set`` overrides, ``--data-root`` and ``extra`` command options applied.

    ``extra`` holds ``("key=value", "the option as typed")`` pairs (``("train.epochs=0", "--epochs 0")``), so
    that an error about the value names the option the user typed."""
    overrides: list[str | tuple[str, str]] = list(args.overrides)
    if getattr(args, "data_root", None):
        overrides.append((f"data.root={args.data_root}", f"--data-root {args.data_root}"))
    overrides.extend(extra)
    return load_config(args.config, overrides)


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` or ``--format NAME --root DIR``."""
    add_config_arguments(parser, required=False)
    parser.add_argument("--format", choices=("kitti", "waymo"),
                        help="dataset layout (without --config): kitti, or waymo (OpenPCDet's processed layout)")
    parser.add_argument("--root", metavar="DIR", help="dataset folder (without --config)")


def dataset_from_args(args: argparse.Namespace):
    """The dataset and the configured classes (None without a config) named by ``add_dataset_arguments``."""
    from ssal.data.datasets import dataset_from_config, open_dataset

    if args.config:
        if args.format or args.root:
            raise SsalError("give either --config or --format/--root, not both", "arguments")
        config = config_from_args(args)
        return dataset_from_config(config.data), list(config.data.classes)
    if not (args.format and args.root):
        raise SsalError("give --config FILE, or --format kitti|waymo --root DIR", "arguments")
    return open_dataset(args.format, args.root), None
