"""The ``query`` stage(s) of ``ssal run``: pool inference (reused when it exists), the strategy's ranking, the
oracle's purchase, and the pictures' raw material for the report.

Pool predictions live in ``RUN/pool_outputs/<model stage>[_<extras>]`` with the hash of the checkpoint that made
them; a later round (or a re-run of an interrupted query) that needs predictions of the same model on some of the
same frames takes them from there instead of running the model again.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ssal.active.budget import Budget
from ssal.active.ledger import Ledger
from ssal.active.outputs import PoolOutputs
from ssal.atomic import atomic_write_json
from ssal.errors import SsalError, warn
from ssal.pipeline.manifest import file_sha256
from ssal.pipeline.stages import (StageContext, StageResult, file_entry, labelled_summary, ledger_state_hash,
                                  query_models)

__all__ = ["run_query", "pool_outputs_of"]


def run_query(ctx: StageContext) -> StageResult:
    from ssal.active.pool_inference import InferenceRequest
    from ssal.active.query import query_round
    from ssal.active.strategies import get_strategy
    from ssal.active.workflow import _frames_to_predict, open_pool

    config, r = ctx.config, ctx.stage.round
    settings = config.active
    strategy = get_strategy(settings.strategy, settings)
    ctx.dist.run_on_main(_truncate_ledger, ctx.ledger_path, r - 1)
    ledger = Ledger.load(ctx.ledger_path)
    pool = open_pool(config)
    ledger.check_dataset(pool.identity)
    own_stage, partner_stage = query_models(ctx)
    result = StageResult()
    if strategy.partner and partner_stage is None:
        note = (f"{strategy.name} ranks round {r} with the {own_stage} model alone: no partner model, so no model "
                "cascade (the CPSP variant pairs the CPSP model with the pretrain model)")
        result.notes.append(note)
        ctx.say(f"note: {note}")
    request = InferenceRequest.for_strategy(strategy, settings.mc_dropout.passes)
    own = pool_outputs_of(ctx, pool, own_stage, _frames_to_predict(ledger, strategy), request)
    partner = None
    if partner_stage is not None and strategy.partner:
        partner = pool_outputs_of(ctx, pool, partner_stage, list(ledger.unlabelled), InferenceRequest(),
                                  nms_iou=config.pipeline.partner_nms_iou)
    budget = Budget(settings.round_budget, settings.unit)

    def buy() -> StageResult:
        book = Ledger.load(ctx.ledger_path)
        oracle = pool.oracle()
        ranking, item, files = query_round(strategy, own, book, budget, ctx.seed, oracle, ctx.folder(),
                                           settings.overshoot, partner)
        book.save(ctx.ledger_path)
        result.notes.extend(f"round {r}: {note}" for note in item.notes)  # what the ledger says about it
        if not item.frames and len(ranking) and not any("bought nothing" in note for note in item.notes):
            first = ranking.frame_ids[0]
            note = (f"bought nothing: the first-ranked frame {first} alone costs "
                    f"{budget.cost(sum(oracle.reveal(first)))} {budget.unit}, more than the round budget of {budget}")
            result.notes.append(f"round {r}: {note}")
            warn(note, ctx.ledger_path)
        for path in files:
            result.outputs[path.name] = file_entry(ctx, path)
        bev = _write_chosen_frames(ctx, pool, own, item.frames[: config.pipeline.bev_frames])
        result.outputs["chosen_frames"] = file_entry(ctx, bev)
        result.outputs["ledger"] = {"path": "ledger.json", "round": r, "sha256": ledger_state_hash(book, r)}
        result.metrics = {"strategy": strategy.name, "model": own_stage, "partner": partner_stage if partner else None,
                          "bought_frames": len(item.frames),
                          "bought_boxes": sum(item.frame_costs("boxes")), "bought_per_class":
                          item.boxes_per_class(book.classes), "budget": budget.to_dict(), **labelled_summary(book)}
        return result

    return ctx.dist.run_on_main(buy)


def _truncate_ledger(path: Path, last_round: int) -> None:
    """A query that runs again (interrupted, or ``--from``) starts from the ledger as it was before its round."""
    ledger = Ledger.load(path)
    if len(ledger.rounds) > last_round + 1:
        ledger.at_round(last_round).save(path)


def _request_tag(request, nms_iou: float | None) -> str:
    parts = [f"mc{request.mc_passes}" if request.mc_passes else "", "grad" if request.gradients else "",
             "points" if request.num_points else "", f"nms{nms_iou:g}" if nms_iou is not None else ""]
    return "".join(f"_{p}" for p in parts if p)


def pool_outputs_of(ctx: StageContext, pool, stage: str, frame_ids: list[str], request,
                    nms_iou: float | None = None) -> PoolOutputs:
    """Predictions of stage ``stage``'s model on ``frame_ids``: reused from ``RUN/pool_outputs`` when that
    model already predicted them, else computed (sharded over the ranks under torchrun) and stored."""
    checkpoint = ctx.checkpoint_of(stage)
    folder = ctx.run_dir / "pool_outputs" / f"{stage}{_request_tag(request, nms_iou)}"
    sha = file_sha256(checkpoint)
    reusable = ctx.dist.run_on_main(_reusable, folder, sha, frame_ids)
    if reusable:
        ctx.say(f"reusing the {stage} model's pool predictions ({folder.relative_to(ctx.run_dir)})")
    else:
        ctx.say(f"pool inference: the {stage} model on {len(frame_ids)} frames")
        _predict_pool(ctx, pool, checkpoint, sha, frame_ids, folder, request, nms_iou)
    outputs = PoolOutputs.open(folder)
    return outputs.select(outputs.positions(frame_ids))


def _reusable(folder: Path, sha: str, frame_ids: list[str]) -> bool:
    if not (folder / "meta.json").is_file():
        return False
    try:
        stored = PoolOutputs.open(folder)
    except SsalError:
        return False
    return stored.info.get("checkpoint_sha256") == sha and set(frame_ids) <= set(stored.frame_ids)


def _predict_pool(ctx: StageContext, pool, checkpoint: Path, sha: str, frame_ids: list[str], folder: Path,
                  request, nms_iou: float | None) -> None:
    from ssal.active.pool_inference import PoolPredictor, run_pool_inference, strip_labels
    from ssal.data.loader import DetectionDataset, collate
    from ssal.engine.checkpoint import load_weights
    from ssal.models import build_detector

    config = ctx.config
    model = build_detector(config.model, seed=config.train.seed)
    load_weights(model, checkpoint, config.model.name, config.model)
    if nms_iou is not None:  # the partner's predictions as the original makes them (a lower NMS IoU)
        model.cfg = replace(model.cfg, post_processing=replace(model.cfg.post_processing, nms_iou=nms_iou))
    model.to(ctx.dist.device)
    infos = {info.frame_id: info for info in pool.dataset.infos(pool.identity.split, count_points=False)}
    dataset = DetectionDataset(pool.dataset, strip_labels([infos[f] for f in frame_ids]), config.data.classes,
                               config.model.point_cloud_range)
    info = {"checkpoint": str(checkpoint.relative_to(ctx.run_dir)), "checkpoint_sha256": sha,
            "request": request.__dict__, "nms_iou": nms_iou}
    run_pool_inference(PoolPredictor(model, request, config.train.seed), dataset, folder, config.data.classes,
                       collate_fn=collate, batch_size=config.active.inference_batch_size, dist=ctx.dist, info=info)


def _write_chosen_frames(ctx: StageContext, pool, outputs: PoolOutputs, frames: list[str],
                         max_points: int = 6000) -> Path:
    """``query/chosen_frames.json``: for the first frames bought, a thinned bird's-eye view of their points, the
    model's predictions and (bought, so now known) their labels; the report draws them without the dataset."""
    infos = {info.frame_id: info for info in pool.dataset.infos(pool.identity.split, count_points=False)}
    classes = list(ctx.config.data.classes)
    rng = np.random.default_rng(ctx.seed)
    items = []
    for frame_id in frames:
        info = infos[frame_id]
        points = pool.dataset.load_frame(info).points
        if len(points) > max_points:
            points = points[np.sort(rng.choice(len(points), max_points, replace=False))]
        pred = outputs.frame(outputs.positions([frame_id])[0])
        annos = info.annos
        keep = np.isin(annos.name, classes)
        items.append({
            "frame": frame_id,
            "points": np.round(points[:, :2], 2).tolist(),
            "predictions": [{"box": np.round(b, 3).tolist(), "score": round(float(s), 4),
                             "class": classes[int(c) - 1]}
                            for b, s, c in zip(pred["boxes"], pred["scores"], pred["labels"])],
            "labels": [{"box": np.round(b, 3).tolist(), "class": str(n)}
                       for b, n in zip(annos.gt_boxes_lidar[keep], annos.name[keep])],
        })
    path = ctx.folder() / "chosen_frames.json"
    atomic_write_json(path, {"round": ctx.stage.round, "range": list(ctx.config.model.point_cloud_range),
                             "frames": items}, indent=None)
    return path
