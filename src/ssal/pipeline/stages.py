"""What each stage of ``ssal run`` does (SPEC 2), as functions of a ``StageContext``.

A stage function returns a ``StageResult``: its outputs (paths inside the run folder, hashed by the runner), its
metrics and its notes. Rank 0 writes every file (ledger, rankings, evaluations); under ``torchrun`` the ranks
train together and share pool inference and evaluation. The labels of unlabelled frames are read only by the
oracle, and a frame's labels only after it is bought (the report's pictures of chosen frames).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ssal.active.budget import Budget
from ssal.active.initial import initial_order, select_initial
from ssal.active.ledger import Ledger, Round
from ssal.engine.distributed import DistContext
from ssal.errors import SsalError
from ssal.pipeline.manifest import file_sha256, json_sha256
from ssal.pipeline.plan import Stage

__all__ = ["StageContext", "StageResult", "stage_function", "stage_inputs", "reset_stage", "ledger_state_hash",
           "query_models", "file_entry", "labelled_summary"]


@dataclass
class StageContext:
    """Everything a stage needs. ``checkpoint_of(name)``: the detector a finished stage delivered."""

    config: object
    run_dir: Path
    plan: list[Stage]
    stage: Stage
    dist: DistContext
    seed: int
    resume: bool
    checkpoint_of: Callable[[str], Path]
    say: Callable[[str], None] = print

    @property
    def ledger_path(self) -> Path:
        return self.run_dir / "ledger.json"

    def folder(self, name: str | None = None) -> Path:
        return self.run_dir / (name or self.stage.name)


@dataclass
class StageResult:
    outputs: dict[str, dict] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------- inputs
def ledger_state_hash(ledger: Ledger, round_index: int) -> str:
    """A hash of the ledger's rounds 0..``round_index`` (frames, boxes, strategy, seed; not the timestamps)."""
    rounds = [(r.index, r.frames, r.boxes, r.strategy, r.seed) for r in ledger.rounds[: round_index + 1]]
    return json_sha256(rounds)


def _ledger_entry(ctx: StageContext, round_index: int) -> dict:
    ledger = Ledger.load(ctx.ledger_path)
    if len(ledger.rounds) <= round_index:
        raise SsalError(f"the ledger has no round {round_index} yet", ctx.ledger_path)
    return {"path": "ledger.json", "round": round_index, "sha256": ledger_state_hash(ledger, round_index)}


def file_entry(ctx: StageContext, path: Path) -> dict:
    """A file of the run as the manifest records it: its path inside the run folder and its hash."""
    return {"path": str(Path(path).resolve().relative_to(ctx.run_dir.resolve())), "sha256": file_sha256(path)}


def query_models(ctx: StageContext) -> tuple[str, str | None]:
    """The stages whose models the query of ``ctx.stage`` ranks with: (own, CAL partner or None).

    Round 1 ranks with the CPSP model cascaded with the pretrain model (SPEC 4) or, without CPSP, with the
    pretrain model alone; later rounds with the model retrained after the previous round (``active.retrain``)
    or else with round 1's model, without a partner (the cascade pairs the CPSP model with its own initialisation).
    """
    r, names = ctx.stage.round, [s.name for s in ctx.plan]
    first = "cpsp" if "cpsp" in names else "pretrain"
    if r > 1 and f"retrain_{r}" in names:
        return f"retrain_{r}", None
    return first, ("pretrain" if first == "cpsp" and r == 1 else None)


def stage_inputs(ctx: StageContext) -> dict[str, dict]:
    """The inputs of ``ctx.stage`` with their hashes (computed before it runs, checked when it is skipped)."""
    stage = ctx.stage
    if stage.kind == "init":
        return {}
    if stage.kind == "train":
        return {"ledger": _ledger_entry(ctx, stage.round)}
    if stage.kind == "cpsp":
        start = "pretrain" if stage.name == "cpsp" else "final"
        return {"ledger": _ledger_entry(ctx, stage.round),
                "init_checkpoint": file_entry(ctx, ctx.checkpoint_of(start))}
    if stage.kind == "query":
        own, partner = query_models(ctx)
        inputs = {"ledger": _ledger_entry(ctx, stage.round - 1), "checkpoint": file_entry(ctx, ctx.checkpoint_of(own))}
        if partner:
            inputs["partner_checkpoint"] = file_entry(ctx, ctx.checkpoint_of(partner))
        return inputs
    return {s.name: file_entry(ctx, ctx.checkpoint_of(s.name)) for s in ctx.plan if s.makes_model}


def reset_stage(ctx: StageContext) -> None:
    """Remove what an earlier attempt of ``ctx.stage`` left, before it runs from the start (rank 0)."""
    stage = ctx.stage
    if stage.kind in ("train", "cpsp"):
        shutil.rmtree(ctx.folder(), ignore_errors=True)
    elif stage.kind == "init":
        ctx.ledger_path.unlink(missing_ok=True)
    elif stage.kind == "query":
        shutil.rmtree(ctx.folder(), ignore_errors=True)


# ------------------------------------------------------------------------------------------------- init
def run_init(ctx: StageContext) -> StageResult:
    """Round 0 of the ledger: random frames under ``active.initial_budget`` (every frame for full supervision)."""
    def work() -> StageResult:
        from ssal.active.workflow import open_pool

        config, result = ctx.config, StageResult()
        pool = open_pool(config)
        oracle = pool.oracle()
        ledger = Ledger.create(config.data.format, pool.identity.split, pool.classes, pool.frame_ids,
                               denominator=oracle.totals())
        if config.pipeline.mode == "full_supervision":
            _buy_everything(ledger, oracle, ctx.seed)
        else:
            _check_budgets(config.active, ledger)
            select_initial(ledger, oracle, Budget(config.active.initial_budget, config.active.unit), ctx.seed)
        ledger.save(ctx.ledger_path)
        result.notes.extend(ledger.rounds[0].notes)
        result.outputs["ledger"] = {"path": "ledger.json", "round": 0, "sha256": ledger_state_hash(ledger, 0)}
        result.metrics = {"pool": ledger.denominator, **labelled_summary(ledger)}
        return result
    return ctx.dist.run_on_main(work)


def _buy_everything(ledger: Ledger, oracle, seed: int) -> None:
    order = initial_order(ledger.pool, seed)
    boxes = [list(oracle.reveal(f)) for f in order]
    item = Round(index=0, kind="initial", strategy="all", seed=seed,
                 budget=Budget(max(1, ledger.denominator["boxes"]), "boxes"), overshoot="stop_before",
                 frames=order, boxes=boxes, scores=[None] * len(order))
    ledger.add_round(item)


def _check_budgets(active, ledger: Ledger) -> None:
    """A run that asks for more than the pool holds is refused before anything trains."""
    total = ledger.denominator["boxes"] if active.unit == "boxes" else ledger.denominator["frames"]
    asked = active.initial_budget + active.rounds * active.round_budget
    pool = f"{ledger.denominator['boxes']} boxes in {ledger.denominator['frames']} frames"
    if active.initial_budget >= total:
        raise SsalError(f"{active.initial_budget} {active.unit} is not less than the whole pool ({pool}): "
                        "nothing would be left to query", "active.initial_budget")
    if asked > total:
        raise SsalError(f"the initial set and {active.rounds} round(s) of {active.round_budget} ask for {asked} "
                        f"{active.unit}, more than the pool holds ({pool})", "active.round_budget")


def labelled_summary(ledger: Ledger) -> dict:
    """The labelled set of ``ledger`` in numbers: frames, boxes (per class) and share of the pool."""
    spent = ledger.spent()
    return {"labelled_frames": spent["frames"], "labelled_boxes": spent["boxes"], "per_class": spent["per_class"],
            "fraction": ledger.fraction()}


# ------------------------------------------------------------------------------------------------ train
def run_train(ctx: StageContext) -> StageResult:
    """Supervised training from scratch on the labelled set after round ``stage.round`` (copy-paste from it only)."""
    from ssal.pipeline.supervised import train_detector

    ledger = Ledger.load(ctx.ledger_path).at_round(ctx.stage.round)
    frames = ledger.labelled
    ctx.say(f"training {ctx.config.model.name} for {ctx.config.train.epochs} epochs on {len(frames)} labelled "
            f"frames ({ledger.spent()['boxes']} boxes)")
    checkpoint = train_detector(ctx.config, ctx.folder(), frames, resume=True, dist=ctx.dist)
    result = StageResult(metrics={**labelled_summary(ledger), **_training_metrics(ctx.folder() / "metrics.jsonl")})
    result.outputs["checkpoint"] = file_entry(ctx, checkpoint)
    return result


def _training_metrics(path: Path) -> dict:
    """The last epoch's record of a training's ``metrics.jsonl`` (loss, frames/s)."""
    if not path.is_file():
        return {}
    epochs = [json.loads(line) for line in path.read_text().splitlines() if '"kind": "epoch"' in line]
    if not epochs:
        return {}
    last = epochs[-1]
    return {"epochs": last.get("epoch"), "final_loss": last.get("loss"), "frames_per_s": last.get("frames_per_s")}


# ------------------------------------------------------------------------------------------------- cpsp
def run_cpsp_stage(ctx: StageContext) -> StageResult:
    """CPSP (SPEC 3) from ``pretrain`` (stage ``cpsp``) or from ``final`` (stage ``final_cpsp``, no BACK groups),
    with the labelled set of its round (a snapshot of the ledger, so a later query cannot change it)."""
    from ssal.ssl.cpsp import run_cpsp

    final = ctx.stage.name == "final_cpsp"
    out = ctx.folder()
    snapshot = out / f"ledger_round_{ctx.stage.round}.json"
    if ctx.dist.is_main:
        Ledger.load(ctx.ledger_path).at_round(ctx.stage.round).save(snapshot)
    ctx.dist.barrier()
    start = ctx.checkpoint_of("final" if final else "pretrain")
    ctx.say(f"CPSP from {start.relative_to(ctx.run_dir)}" + (" (final: no hard-negative groups)" if final else ""))
    checkpoint = run_cpsp(ctx.config, snapshot, start, out, final=final, resume=ctx.resume, dist=ctx.dist)
    result = StageResult(metrics=_training_metrics(out / "metrics.jsonl"))
    result.outputs["checkpoint"] = file_entry(ctx, checkpoint)
    quality = out / "pseudo_label_quality.json"
    if quality.is_file():
        result.outputs["pseudo_label_quality"] = file_entry(ctx, quality)
        result.metrics["pseudo_label_quality"] = json.loads(quality.read_text())
    return result


STAGE_FUNCTIONS: dict[str, Callable[[StageContext], StageResult]] = {}


def _register() -> None:
    from ssal.pipeline.evaluate_stage import run_evaluate
    from ssal.pipeline.query_stage import run_query

    STAGE_FUNCTIONS.update(init=run_init, train=run_train, cpsp=run_cpsp_stage, query=run_query,
                           evaluate=run_evaluate)


def stage_function(kind: str) -> Callable[[StageContext], StageResult]:
    if not STAGE_FUNCTIONS:
        _register()
    return STAGE_FUNCTIONS[kind]

