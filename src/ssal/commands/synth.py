"""``ssal synth`` (write a synthetic KITTI-layout dataset) and ``ssal synth compare`` (check it against real KITTI
frames)."""

from __future__ import annotations

import argparse

from ssal.errors import SsalError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth", help="generate a synthetic KITTI-like LiDAR dataset",
        usage="ssal synth --out DIR --frames N [--val-frames M] --seed S [--preset NAME] [--overwrite] [--workers K]\n"
              "       ssal synth compare --synthetic DIR --real DIR [--png FILE] [--max-frames N]",
        description="Write a synthetic dataset in the KITTI object layout (velodyne, label_2, calib, planes, "
                    "image_2, ImageSets). The same seed writes the same bytes.")
    parser.add_argument("--out", metavar="DIR", help="output folder (new or empty, or see --overwrite)")
    parser.add_argument("--frames", type=int, metavar="N", help="training frames")
    parser.add_argument("--val-frames", type=int, default=0, metavar="M", help="validation frames (default 0)")
    parser.add_argument("--seed", type=int, metavar="S", help="random seed (a non-negative integer)")
    parser.add_argument("--preset", default="kitti", metavar="NAME",
                        help="kitti (64 beams, KITTI's density; default) or small (32 beams, a quarter of the points)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the KITTI data (training/, ImageSets/, info files) of a non-empty --out")
    parser.add_argument("--workers", type=int, default=1, metavar="K", help="worker processes (default 1)")
    parser.set_defaults(run=run_generate)

    actions = parser.add_subparsers(dest="synth_command", metavar="ACTION")
    compare = actions.add_parser("compare", prog="ssal synth compare",
                                 help="print synthetic vs real statistics side by side, draw a BEV picture")
    compare.add_argument("--synthetic", required=True, metavar="DIR", help="synthetic dataset (KITTI layout)")
    compare.add_argument("--real", required=True, metavar="DIR", help="real KITTI frames (KITTI layout)")
    compare.add_argument("--png", metavar="FILE", help="write a BEV picture of one frame of each")
    compare.add_argument("--max-frames", type=int, metavar="N", help="read at most N frames of each dataset")
    compare.set_defaults(run=run_compare)


def run_generate(args: argparse.Namespace) -> int:
    from ssal.data.synthetic.generate import generate

    for name in ("out", "frames", "seed"):
        if getattr(args, name) is None:
            raise SsalError("is required (e.g. ssal synth --out data/synth --frames 100 --seed 0)", f"--{name}")
    summary = generate(args.out, args.frames, args.seed, val_frames=args.val_frames, preset=args.preset,
                       overwrite=args.overwrite, workers=args.workers, progress=True)
    boxes = ", ".join(f"{name} {count}" for name, count in summary.boxes.items()) or "none"
    print(f"wrote {summary.frames} frames ({args.frames} train, {args.val_frames} val) to {args.out}")
    print(f"  {summary.points / summary.frames:,.0f} points per frame; labelled boxes: {boxes}")
    print(f"  {summary.seconds:.1f} s, {summary.frames_per_second:.1f} frames/s")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from ssal.data.synthetic.compare import bev_figure, collect, compare_text

    if args.max_frames is not None and args.max_frames < 1:
        raise SsalError(f"must be a positive integer, got {args.max_frames}", "--max-frames")
    synthetic = collect(args.synthetic, args.max_frames)
    real = collect(args.real, args.max_frames)
    print(compare_text(synthetic, real), end="")
    if args.png:
        print(f"wrote {bev_figure(synthetic, real, args.png)}")
    return 0
