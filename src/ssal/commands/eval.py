"""``ssal eval kitti``: KITTI AP of a folder of result files, as the official devkit computes it."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluate detections (KITTI AP as the official devkit)")
    commands = parser.add_subparsers(dest="eval_command", metavar="BENCHMARK", required=True)
    kitti = commands.add_parser(
        "kitti", help="KITTI 2-D/BEV/3-D/AOS AP, R11 and R40, of KITTI result files",
        description="KITTI 2-D/BEV/3-D/AOS AP (R11 and R40, Easy/Moderate/Hard), number for number as the "
                    "official devkit. A frame without a result file counts as having no detections.",
    )
    kitti.add_argument("--gt", required=True, metavar="LABEL_DIR", help="ground truth folder (label_2)")
    kitti.add_argument("--pred", required=True, metavar="RESULT_DIR", help="folder of <frame id>.txt result files")
    kitti.add_argument("--ids", metavar="FILE", help="frame ids to evaluate, one per line (default: every label file)")
    kitti.add_argument("--classes", default="Car,Pedestrian,Cyclist", help="comma-separated (default: %(default)s)")
    kitti.add_argument("--tags", metavar="FILE",
                       help="a tags file (the synthetic world's synth_tags.json): also break AP down by tag")
    kitti.add_argument("--json", metavar="FILE", help="also write the result as JSON (the metrics.json of `ssal evaluate`)")
    kitti.set_defaults(run=run_kitti)


def run_kitti(args: argparse.Namespace) -> int:
    from ssal.atomic import atomic_write_json
    from ssal.eval import evaluate_kitti, format_kitti_table
    from ssal.eval.kitti import check_kitti_classes
    from ssal.eval.kitti_files import load_eval_frames
    from ssal.eval.metrics_file import metrics_document

    classes = [name.strip() for name in args.classes.split(",") if name.strip()]
    check_kitti_classes(classes)
    frames = load_eval_frames(args.gt, args.pred, args.ids)
    result = evaluate_kitti(frames.gt, frames.pred, classes=classes)
    print(format_kitti_table(result))
    print(_frames_note(frames))
    by_tag = None
    if args.tags:
        from ssal.eval.tags import evaluate_kitti_by_tag, format_tag_table, read_tags

        by_tag = evaluate_kitti_by_tag(frames.ids, frames.gt, frames.pred, read_tags(args.tags), classes=classes)
        print(format_tag_table(by_tag, classes), end="")
    if args.json:
        document = metrics_document(result, len(frames.ids), frames.without_prediction, frames.unused_predictions)
        if by_tag is not None:
            document["by_tag"] = by_tag  # beside the table, like "evaluated"
        atomic_write_json(args.json, document)
        print(f"wrote {args.json}")
    return 0


def _frames_note(frames) -> str:
    note = f"{len(frames.ids)} frames evaluated"
    if frames.without_prediction:
        shown = ", ".join(frames.without_prediction[:5]) + (", ..." if len(frames.without_prediction) > 5 else "")
        note += f"; {len(frames.without_prediction)} had no prediction file and count as no detections ({shown})"
    if frames.unused_predictions:
        note += f"; {len(frames.unused_predictions)} prediction files have no frame among them and were not used"
    return note
