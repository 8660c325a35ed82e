"""The ``ssal`` command line: one entry point, one sub-command per module in ``ssal.commands``.

Each command module exposes ``register(subparsers)``, which adds its parser and sets ``run`` to a function taking
the parsed arguments. This file only wires them together and turns user errors into one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from ssal.errors import SsalError, SsalWarning

# Order = order in `ssal --help`.
COMMAND_MODULES = (
    "ssal.commands.demo",
    "ssal.commands.run",
    "ssal.commands.report",
    "ssal.commands.data",
    "ssal.commands.synth",
    "ssal.commands.train",
    "ssal.commands.predict",
    "ssal.commands.eval",
    "ssal.commands.ledger",
    "ssal.commands.query",
    "ssal.commands.cpsp",
    "ssal.commands.import_labels",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssal", description="Label-efficient LiDAR 3D object detection (S-SSAL).")
    parser.add_argument("--version", action="version", version=f"ssal {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    warnings.simplefilter("always", SsalWarning)
    warnings.showwarning = _show_warning
    try:
        result = args.run(args)
    except SsalError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        from ssal.atomic import USER_ERRNOS

        if error.errno not in USER_ERRNOS:  # a bug or a broken machine: keep the traceback
            raise
        # Disk full, permission denied, read-only: one line, like every user error.
        where = f"{error.filename}: " if error.filename else ""
        print(f"error: {where}{error.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def _show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001 - warnings API
    print(f"warning: {message}", file=sys.stderr)


def _version() -> str:
    from ssal import __version__

    return __version__
