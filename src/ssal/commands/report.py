"""``ssal report``: several runs of ``ssal run`` side by side in one HTML page (built from their JSON only)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="put runs of `ssal run` side by side in one HTML page")
    parser.add_argument("runs", nargs="*", metavar="RUN", help="run folders (evaluated)")
    parser.add_argument("--benchmark", metavar="DIR",
                        help="instead: the page of benchmarks/label_efficiency.py from DIR/results.json")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for index.html and its pictures")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ssal.errors import SsalError
    from ssal.report import build_report

    if args.benchmark:
        from pathlib import Path

        from ssal.report.benchmark import build_benchmark_report

        print(f"wrote {build_benchmark_report(Path(args.benchmark) / 'results.json', args.out)}")
        return 0
    if not args.runs:
        raise SsalError("name at least one run folder (or --benchmark DIR)", "ssal report")
    print(f"wrote {build_report(args.runs, args.out)}")
    return 0
