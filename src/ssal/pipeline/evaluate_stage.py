"""The ``evaluate`` stage of ``ssal run``: every model of the run on the evaluation split, and ``RUN/results.json``.

``RUN/eval/<stage>/`` holds each model's KITTI result files, ``predictions.pkl``, ``metrics.json`` and
``source.json`` (the hash of the checkpoint evaluated): a model whose checkpoint has not changed is not evaluated
again. ``results.json`` lists the models with the labelled set each was trained on and its headline number.
"""

from __future__ import annotations

import json
from pathlib import Path

from ssal.active.ledger import Ledger
from ssal.atomic import atomic_write_json
from ssal.pipeline.manifest import file_sha256
from ssal.pipeline.stages import StageContext, StageResult, file_entry, labelled_summary
from ssal.report.metrics import headline

__all__ = ["run_evaluate", "RESULTS_KIND"]

RESULTS_KIND = "ssal-run-results"


def run_evaluate(ctx: StageContext) -> StageResult:
    from ssal.data.datasets import dataset_from_config

    config = ctx.config
    reader = dataset_from_config(config.data)
    split = config.pipeline.eval_split or config.data.val_split
    infos = reader.infos(split)
    ledger = Ledger.load(ctx.ledger_path)
    result, models = StageResult(), []
    for stage in [s for s in ctx.plan if s.makes_model]:
        checkpoint = ctx.checkpoint_of(stage.name)
        out = ctx.run_dir / "eval" / stage.name
        sha = file_sha256(checkpoint)
        metrics = ctx.dist.run_on_main(_stored_metrics, out, sha, split)
        if metrics is None:
            ctx.say(f"evaluating the {stage.name} model on {len(infos)} {split} frames")
            metrics = _evaluate(ctx, reader, infos, checkpoint, out, sha, split)
        else:
            ctx.say(f"the {stage.name} model's evaluation is up to date")
        value = headline(metrics, config.data.format)
        models.append({"stage": stage.name, "round": stage.round, "checkpoint_sha256": sha,
                       "metrics": f"eval/{stage.name}/metrics.json", "headline": value,
                       "labelled": labelled_summary(ledger.at_round(stage.round))})
        result.metrics[stage.name] = value
    summary = {"kind": RESULTS_KIND, "version": 1, "format": config.data.format, "split": split,
               "mode": config.pipeline.mode, "pretrain": config.pipeline.pretrain,
               "strategy": "all labels" if config.pipeline.mode == "full_supervision" else config.active.strategy,
               "seed": ctx.seed, "pool": ledger.denominator, "models": models}
    path = ctx.run_dir / "results.json"
    ctx.dist.run_on_main(atomic_write_json, path, summary)
    result.outputs["results"] = file_entry(ctx, path)
    return result


def _stored_metrics(out: Path, sha: str, split: str) -> dict | None:
    source, metrics = out / "source.json", out / "metrics.json"
    if not (source.is_file() and metrics.is_file()):
        return None
    try:
        recorded = json.loads(source.read_text())
        if recorded.get("checkpoint_sha256") != sha or recorded.get("split") != split:
            return None
        return json.loads(metrics.read_text())
    except json.JSONDecodeError:
        return None


def _evaluate(ctx: StageContext, reader, infos, checkpoint: Path, out: Path, sha: str, split: str) -> dict:
    from ssal.pipeline.prediction import evaluate_frames, load_detector, predict_frames, save_metrics, save_predictions

    config = ctx.config
    model = load_detector(config, checkpoint, ctx.dist.device)
    predictions = predict_frames(config, model, reader, infos, dist=ctx.dist, description=f"evaluate {out.name}")

    def write() -> dict:
        save_predictions(out, config, infos, predictions)
        metrics = evaluate_frames(config, infos, predictions)
        save_metrics(out, metrics, len(infos))
        atomic_write_json(out / "source.json", {"checkpoint": str(checkpoint.relative_to(ctx.run_dir)),
                                                "checkpoint_sha256": sha, "split": split})
        return metrics

    return ctx.dist.run_on_main(write)
