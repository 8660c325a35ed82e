"""``ssal predict`` and ``ssal evaluate``: run a checkpoint over a split; evaluate against its labels."""

from __future__ import annotations

import argparse

from ssal.commands.common import add_config_arguments, config_from_args


def register(subparsers) -> None:
    for name, helptext, runner in (
        ("predict", "detections of a checkpoint on a split (a pickle with RoI features; KITTI result files for "
                    "KITTI data)",
         run_predict),
        ("evaluate", "predict, then KITTI AP (R11/R40; 2-D, BEV, 3-D, AOS) or Waymo AP/APH (LEVEL_1/2) into "
                     "OUT/metrics.json", run_evaluate),
    ):
        parser = subparsers.add_parser(name, help=helptext)
        add_config_arguments(parser)
        parser.add_argument("--ckpt", required=True, metavar="FILE", help="checkpoint (.pth) of `ssal train`")
        parser.add_argument("--split", default=None, help="split to run on (default: data.val_split)")
        parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
        parser.add_argument("--batch-size", type=int, default=4)
        parser.set_defaults(run=runner)


def _predict(args: argparse.Namespace):
    from ssal.data.datasets import dataset_from_config
    from ssal.engine import distributed_session
    from ssal.pipeline.prediction import load_detector, predict_frames, save_predictions

    config = config_from_args(args)
    reader = dataset_from_config(config.data)
    infos = reader.infos(args.split or config.data.val_split)
    with distributed_session() as dist:
        model = load_detector(config, args.ckpt, dist.device)
        predictions = predict_frames(config, model, reader, infos, dist, batch_size=args.batch_size)
        if dist.is_main:
            save_predictions(args.out, config, infos, predictions)
            print(f"wrote detections of {len(infos)} frames to {args.out}")
        return config, infos, predictions, dist.is_main


def run_predict(args: argparse.Namespace) -> int:
    _predict(args)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ssal.pipeline.prediction import evaluate_frames, format_metrics, save_metrics

    config, infos, predictions, is_main = _predict(args)
    if is_main:
        metrics = evaluate_frames(config, infos, predictions)
        print(format_metrics(config, metrics))
        print(f"metrics: {save_metrics(args.out, metrics, len(infos))}")
    return 0
