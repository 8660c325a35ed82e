"""``ssal synth`` (write a synthetic KITTI-layout or Waymo-layout dataset) and ``ssal synth compare`` (check a
KITTI-layout one against real KITTI frames)."""

from __future__ import annotations

import argparse

from ssal.errors import SsalError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth", help="generate a synthetic KITTI-like or Waymo-like LiDAR dataset",
        usage="ssal synth --out DIR --frames N [--val-frames M] --seed S [--preset NAME] [--exact-labels] [--overwrite]"
              " [--workers K]\n"
              "       ssal synth --format waymo --out DIR --sequences S --frames-per-sequence F [--val-sequences V]"
              " --seed S\n"
              "                  [--preset NAME] [--overwrite] [--workers K]\n"
              "       ssal synth compare --synthetic DIR --real DIR [--png FILE] [--max-frames N]",
        description="Write a synthetic dataset in the KITTI object layout (velodyne, label_2, calib, planes, "
                    "image_2, ImageSets, and synth_tags.json: drive, street, weather and rare-situation tags per "
                    "frame and object), made of drives (neighbouring frames overlap; train and val drives differ) "
                    "with annotator-like label noise unless --exact-labels, or with --format waymo in OpenPCDet's "
                    "processed Waymo layout (waymo_processed_data_v0_5_0/<sequence>/NNNN.npy, per-sequence and "
                    "split info pickles, ImageSets): sequences of consecutive 10 Hz frames from a moving car, "
                    "360 degree scans, objects that keep their ids. The same seed writes the same bytes.")
    parser.add_argument("--format", choices=("kitti", "waymo"), default="kitti",
                        help="dataset layout (default kitti)")
    parser.add_argument("--out", metavar="DIR", help="output folder (new or empty, or see --overwrite)")
    parser.add_argument("--frames", type=int, metavar="N", help="kitti: training frames")
    parser.add_argument("--val-frames", type=int, default=0, metavar="M", help="kitti: validation frames (default 0)")
    parser.add_argument("--sequences", type=int, metavar="S", help="waymo: training sequences")
    parser.add_argument("--frames-per-sequence", type=int, metavar="F",
                        help="waymo: frames per sequence (10 per second of driving; Waymo's are about 200)")
    parser.add_argument("--val-sequences", type=int, default=0, metavar="V",
                        help="waymo: validation sequences (default 0)")
    parser.add_argument("--seed", type=int, metavar="S", help="random seed (a non-negative integer)")
    parser.add_argument("--preset", metavar="NAME",
                        help="kitti: kitti (64 beams, KITTI's density; default) or small (32 beams, a quarter of the "
                             "points); waymo: waymo (64-beam 360 degree top LiDAR; default) or waymo-small (32 beams)")
    parser.add_argument("--exact-labels", action="store_true",
                        help="kitti: write exact labels (default: KITTI-like annotation noise: a few cm of box "
                             "jitter, about 1.5 degrees of heading, some far and hidden objects unlabelled)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the dataset files (layout folders, ImageSets, info files) of a non-empty --out")
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

    show = actions.add_parser("show", prog="ssal synth show",
                              help="draw frames of a synthetic dataset from above: a drive, or one frame per tag")
    show.add_argument("--root", required=True, metavar="DIR", help="synthetic dataset (KITTI layout, with tags)")
    which = show.add_mutually_exclusive_group(required=True)
    which.add_argument("--drive", metavar="NAME", help="every frame of this drive (e.g. train-0003)")
    which.add_argument("--tags", metavar="TAG,TAG", help="for each tag, the frame with most objects carrying it")
    show.add_argument("--max-frames", type=int, default=6, metavar="N", help="at most N panels (default 6)")
    show.add_argument("--png", required=True, metavar="FILE", help="the picture to write")
    show.set_defaults(run=run_show)


def run_generate(args: argparse.Namespace) -> int:
    if args.format == "waymo":
        return _generate_waymo(args)
    from ssal.data.synthetic.generate import generate

    _refuse(args, ("sequences", "frames_per_sequence"), "kitti")
    for name in ("out", "frames", "seed"):
        if getattr(args, name) is None:
            raise SsalError("is required (e.g. ssal synth --out data/synth --frames 100 --seed 0)", f"--{name}")
    summary = generate(args.out, args.frames, args.seed, val_frames=args.val_frames, preset=args.preset or "kitti",
                       overwrite=args.overwrite, workers=args.workers, progress=True,
                       label_noise=not args.exact_labels)
    boxes = ", ".join(f"{name} {count}" for name, count in summary.boxes.items()) or "none"
    print(f"wrote {summary.frames} frames ({args.frames} train, {args.val_frames} val) to {args.out}")
    print(f"  {summary.points / summary.frames:,.0f} points per frame; labelled boxes: {boxes}")
    print(f"  {summary.seconds:.1f} s, {summary.frames_per_second:.1f} frames/s")
    tags = ", ".join(f"{tag} {frames} ({objects})" for tag, (frames, objects) in summary.tags.items()) or "none"
    print(f"  rare tags, frames (objects): {tags}")
    print(f"  tags per frame and object in {args.out}/synth_tags.json")
    return 0


def _generate_waymo(args: argparse.Namespace) -> int:
    from ssal.data.synthetic.waymo_generate import generate_waymo

    _refuse(args, ("frames",), "waymo")
    if args.exact_labels:
        raise SsalError("is for --format kitti (Waymo-layout labels are exact)", "--exact-labels")
    if args.val_frames:
        raise SsalError("is for --format kitti; with --format waymo give --val-sequences", "--val-frames")
    for name in ("out", "sequences", "frames_per_sequence", "seed"):
        if getattr(args, name) is None:
            raise SsalError("is required (e.g. ssal synth --format waymo --out data/waymo_synth --sequences 10 "
                            "--frames-per-sequence 20 --seed 0)", "--" + name.replace("_", "-"))
    summary = generate_waymo(args.out, args.sequences, args.frames_per_sequence, args.seed,
                             val_sequences=args.val_sequences, preset=args.preset or "waymo",
                             overwrite=args.overwrite, workers=args.workers, progress=True)
    boxes = ", ".join(f"{name} {count}" for name, count in summary.boxes.items()) or "none"
    print(f"wrote {args.sequences + args.val_sequences} sequences of {args.frames_per_sequence} frames "
          f"({args.sequences} train, {args.val_sequences} val) to {args.out}")
    print(f"  {summary.points / summary.frames:,.0f} points per frame; labelled boxes: {boxes}")
    print(f"  {summary.seconds:.1f} s, {summary.frames_per_second:.1f} frames/s")
    return 0


def _refuse(args: argparse.Namespace, names: tuple[str, ...], layout: str) -> None:
    for name in names:
        if getattr(args, name) is not None:
            raise SsalError(f"does not apply to --format {layout}", "--" + name.replace("_", "-"))


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


def run_show(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ssal.data.synthetic.pictures import draw_frames, frames_for_tags
    from ssal.data.synthetic.tags import TAGS_FILE
    from ssal.eval.tags import read_tags

    tags = read_tags(Path(args.root) / TAGS_FILE)
    if args.drive:
        ids = [f for f, entry in sorted(tags.items()) if entry.get("drive") == args.drive][: args.max_frames]
        if not ids:
            raise SsalError(f"no frame of drive {args.drive!r} in {TAGS_FILE}", "--drive")
        panels = [(f, f"{args.drive} frame {tags[f]['index_in_drive']} ({f}, {tags[f]['style']})", None)
                  for f in ids]
    else:
        wanted = [t.strip() for t in args.tags.split(",") if t.strip()][: args.max_frames]
        panels = [(f, f"{tag}: {f} ({tags[f]['drive']})", tag) for tag, f in frames_for_tags(tags, wanted)]
    print(f"wrote {draw_frames(args.root, panels, args.png, tags)}")
    return 0
