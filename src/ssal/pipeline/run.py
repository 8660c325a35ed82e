"""``ssal run``: the stages of a config, one after the other, in one run folder, resumable.

For each stage of the plan (``ssal.pipeline.plan``):

* complete in the manifest -> skipped, after checking that the config keys it depends on, its inputs (hashes)
  and its outputs are as recorded; a difference is refused with one line naming the key or file and the
  ``--from`` that would redo it;
* interrupted (``running``/``failed`` with the same config and inputs) -> run again, continuing its training from
  the last checkpoint;
* otherwise -> its leftovers are removed and it runs from the start.

``--from STAGE`` redoes STAGE and everything after it (the stages before it must be complete); ``--until STAGE``
stops after STAGE. The manifest records each stage as ``running`` before it starts and ``complete``/``failed`` in a
``finally``. Every rank of a ``torchrun`` job walks the same plan; rank 0 decides and writes.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from ssal.atomic import atomic_write_text
from ssal.config import config_to_yaml
from ssal.engine.distributed import DistContext
from ssal.errors import SsalError
from ssal.pipeline.manifest import Manifest, StageRecord, now
from ssal.pipeline.plan import (Stage, build_plan, changed_keys, find_stage, plain_config, relevant, stage_fingerprint,
                                 stage_keys)
from ssal.run_lock import LOCK_NAME
from ssal.pipeline.stages import StageContext, reset_stage, stage_function, stage_inputs

__all__ = ["run_pipeline", "run_seed"]

_log = logging.getLogger("ssal.pipeline.run")


def run_seed(config) -> int:
    return config.pipeline.seed if config.pipeline.seed is not None else config.train.seed


def run_pipeline(config, run_dir: str | Path, *, config_file: str = "<config>", from_stage: str | None = None,
                 until: str | None = None, dist: DistContext | None = None, report: bool = True) -> Manifest:
    """Run (or continue) the pipeline of ``config`` in ``run_dir``; returns the manifest."""
    dist = dist or DistContext.single()
    run_dir = Path(run_dir)
    plan = build_plan(config)
    start, stop = find_stage(plan, from_stage, "--from"), find_stage(plan, until, "--until")
    if start is not None and stop is not None and stop < start:
        raise SsalError(f"--until {until} comes before --from {from_stage} in the plan", "--until")
    manifest = dist.run_on_main(_open_manifest, run_dir, config, config_file, plan)
    dist.run_on_main(_remove_debris, run_dir)
    handler = _open_log(run_dir) if dist.is_main else None
    try:
        say = _speaker(dist)
        say(f"run {run_dir}: {' -> '.join(s.name for s in plan)}")
        last = len(plan) - 1 if stop is None else stop
        for index, stage in enumerate(plan[: last + 1]):
            ctx = StageContext(config, run_dir, plan, stage, dist, run_seed(config), resume=False,
                               checkpoint_of=lambda name: _checkpoint_of(manifest, run_dir, name), say=say)
            forced = start is not None and index >= start
            position = f"[{index + 1}/{len(plan)}] {stage.name}"
            record = manifest.stages.get(stage.name)
            if not forced and record is not None and record.complete:
                dist.run_on_main(_check_unchanged, manifest, record, ctx, config_file)
                say(f"{position}: complete, skipped")
                continue
            if start is not None and index < start:
                raise SsalError(f"cannot start at {plan[start].name!r}: stage {stage.name!r} before it has not "
                                f"completed in {run_dir}", "--from")
            _run_stage(manifest, ctx, record, forced, position, plan[index + 1: last + 1])
        if report and dist.is_main and _complete(manifest, "evaluate"):
            from ssal.report import build_report

            page = build_report([run_dir], run_dir / "report")
            say(f"report: {page}")
        return manifest
    finally:
        if handler is not None:
            logging.getLogger("ssal").removeHandler(handler)
            handler.close()


def _run_stage(manifest: Manifest, ctx: StageContext, record: StageRecord | None, forced: bool, position: str,
               rest: list[Stage]) -> None:
    config, dist, stage = ctx.config, ctx.dist, ctx.stage
    fingerprint = stage_fingerprint(config, ctx.plan, stage)
    inputs = dist.run_on_main(_inputs_or_error, ctx)
    ctx.resume = (not forced and record is not None and record.status in ("running", "failed")
                  and record.fingerprint == fingerprint and record.inputs == inputs)
    if not ctx.resume:
        dist.run_on_main(reset_stage, ctx)
    then = f"; then {', '.join(s.name for s in rest)}" if rest else "; the last stage"
    ctx.say(f"{position} ({'continuing an interrupted attempt' if ctx.resume else 'starting'}){then}")
    current = StageRecord(stage.name, "running", fingerprint, _stage_config(config, ctx.plan, stage), ctx.seed,
                          inputs)
    if dist.is_main:
        atomic_write_text(ctx.run_dir / "config.yaml", config_to_yaml(config))  # the config the stages ran with
        manifest.record(current)
    started = time.monotonic()
    try:
        result = stage_function(stage.kind)(ctx)
        current.outputs, current.metrics, current.notes = result.outputs, result.metrics, list(result.notes)
        current.status = "complete"
        for note in current.notes:
            _log.warning("%s: %s", stage.name, note)
    except BaseException as error:
        current.status = "failed"
        current.error = f"{type(error).__name__}: {error}"
        raise
    finally:
        current.wall_s = round(time.monotonic() - started, 2)
        current.finished = now()
        if dist.is_main:
            manifest.record(current)
    manifest.stages[stage.name] = dist.broadcast_object(current)  # every rank finds this stage's outputs
    ctx.say(f"{position}: done in {current.wall_s:.0f} s")


def _stage_config(config, plan, stage) -> dict:
    return relevant(plain_config(config), stage_keys(plan, stage, config.pipeline.mode))


def _complete(manifest: Manifest, name: str) -> bool:
    record = manifest.stages.get(name)
    return record is not None and record.complete


def _checkpoint_of(manifest: Manifest, run_dir: Path, name: str) -> Path:
    """The checkpoint a complete stage delivered (as its manifest record says)."""
    record = manifest.stages.get(name)
    if record is None or not record.complete or "checkpoint" not in record.outputs:
        raise SsalError(f"stage {name!r} has not completed in this run folder, so its model does not exist",
                        manifest.path)
    path = run_dir / record.outputs["checkpoint"]["path"]
    if not path.is_file():
        raise SsalError(f"{path} is missing although stage {name!r} completed; redo it with --from {name}",
                        manifest.path)
    return path


def _inputs_or_error(ctx: StageContext) -> dict:
    try:
        return stage_inputs(ctx)
    except FileNotFoundError as error:
        raise SsalError(f"stage {ctx.stage.name!r} needs {error.filename}, which does not exist", "--from") from None


def _open_manifest(run_dir: Path, config, config_file: str, plan: list[Stage]) -> Manifest:
    """The run folder's manifest (made now for a new folder), after checking it is this dataset's."""
    from ssal.active.workflow import open_pool

    path = run_dir / "manifest.json"
    identity = open_pool(config).identity.to_dict()
    if path.exists():
        manifest = Manifest.load(path)
        if _comparable(manifest.dataset) != _comparable(identity):
            raise SsalError(f"this run folder was made by {manifest.config_file} for {_describe(manifest.dataset)}; "
                            f"{config_file} reads {_describe(identity)}: use another --out", path)
        # Saved with the next stage that runs: a refused re-run leaves the manifest as it was.
        manifest.config, manifest.config_file, manifest.plan = plain_config(config), config_file, [s.name for s in plan]
        return manifest
    if run_dir.exists() and any(p.name != LOCK_NAME for p in run_dir.iterdir()):  # `ssal run` holds the lock
        raise SsalError("the folder is not empty and holds no manifest.json: not a run folder of ssal run; "
                        "use another --out", run_dir)
    manifest = Manifest.new(path, plain_config(config), config_file, identity, [s.name for s in plan])
    manifest.save()
    return manifest


def _remove_debris(run_dir: Path) -> None:
    """Delete what processes killed in this run folder left: temporary files of atomic writes (``.NAME.*.tmp``)
    and unfinished output folders (``*.partial``), wherever they are. Nothing ever completes them (a write is
    started again from scratch), and a run folder is written by one process at a time (``ssal run`` holds its
    lock), so none belongs to a live writer."""
    for path in sorted(run_dir.rglob("*.partial"), key=lambda p: len(p.parts)):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
    removed = [path for path in run_dir.rglob(".*.tmp") if path.is_file()]
    for path in removed:
        path.unlink(missing_ok=True)
    if removed:
        _log.info("%s: removed %d temporary files of interrupted writes", run_dir, len(removed))


def _comparable(identity: dict) -> dict:
    return {k: identity.get(k) for k in ("format", "classes", "pool_fingerprint", "num_frames")}


def _describe(identity: dict) -> str:
    return (f"a {identity['format']} pool of {identity['num_frames']} frames (fingerprint "
            f"{identity['pool_fingerprint']}, classes {', '.join(identity['classes'])})")


def _check_unchanged(manifest: Manifest, record: StageRecord, ctx: StageContext, config_file: str) -> None:
    """Refuse, naming the key or file, when what a complete stage was made from has changed."""
    stage, name = ctx.stage, ctx.stage.name
    redo = f"add --from {name} to redo it and the stages after it, or use another --out"
    if record.fingerprint != stage_fingerprint(ctx.config, ctx.plan, stage):
        diffs = changed_keys(record.config, ctx.config, ctx.plan, stage)
        if diffs:
            key, old, new = diffs[0]
            more = f" (and {len(diffs) - 1} more keys)" if len(diffs) > 1 else ""
            raise SsalError(f"stage {name!r} was run with {key} = {_show(old)} ({manifest.made_by}), {config_file} "
                            f"now says {_show(new)}{more}: {redo}", manifest.path)
        raise SsalError(f"stage {name!r} was run with another config ({manifest.made_by}) than {config_file}: {redo}",
                        manifest.path)
    inputs = _inputs_or_error(ctx)
    for key, entry in record.inputs.items():
        if inputs.get(key) != entry:
            raise SsalError(f"stage {name!r} was made from {entry['path']} (hash {entry['sha256']}), which has "
                            f"changed since: {redo}", manifest.path)
    for entry in record.outputs.values():
        if not (ctx.run_dir / entry["path"]).exists():
            raise SsalError(f"{entry['path']}, an output of stage {name!r}, is missing: {redo}", manifest.path)


def _show(value) -> str:
    return "(unset)" if type(value) is object else repr(value)


def _speaker(dist: DistContext):
    def say(message: str) -> None:
        if dist.is_main:
            print(f"==> {message}", flush=True)
            _log.info(message)
    return say


def _open_log(run_dir: Path) -> logging.Handler:
    """``RUN/run.log``: one line per stage event, the trainers' and evaluations' log lines (appended)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("ssal")
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    return handler
