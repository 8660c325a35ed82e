"""Start a run folder from the first stages of another run, when they are exactly what the new config would
compute (same stage fingerprints): variants that differ only after ``pretrain`` (the strategy, CPSP or not) then
share the initial set, the pretrained model and its pool predictions instead of training it again."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

from ssal.active.ledger import Ledger
from ssal.errors import SsalError
from ssal.pipeline.manifest import Manifest, StageRecord
from ssal.pipeline.plan import build_plan, plain_config, stage_fingerprint

__all__ = ["adopt_stages"]


def adopt_stages(source: str | Path, target: str | Path, config, names: Sequence[str], config_file: str) -> Manifest:
    """Make ``target`` a run folder of ``config`` whose stages ``names`` (the first of its plan) are copies of
    ``source``'s; refused when a stage is not complete there or was made by other config values."""
    source, target = Path(source), Path(target)
    if (target / "manifest.json").exists():
        raise SsalError("already a run folder; adopt stages only into a new one", target)
    origin = Manifest.load(source / "manifest.json")
    plan = build_plan(config)
    if [s.name for s in plan[: len(names)]] != list(names):
        raise SsalError(f"stages {', '.join(names)} are not the first stages of this config's plan", target)
    records = []
    for stage in plan[: len(names)]:
        record = origin.stages.get(stage.name)
        if record is None or not record.complete:
            raise SsalError(f"stage {stage.name!r} has not completed there", source / "manifest.json")
        if record.fingerprint != stage_fingerprint(config, plan, stage):
            raise SsalError(f"stage {stage.name!r} was made with other config values than this run's",
                            source / "manifest.json")
        records.append(record)
    target.mkdir(parents=True, exist_ok=True)
    last_round = max(stage.round for stage in plan[: len(names)])
    Ledger.load(source / "ledger.json").at_round(last_round).save(target / "ledger.json")
    for stage in plan[: len(names)]:
        if stage.makes_model:
            shutil.copytree(source / stage.name, target / stage.name, dirs_exist_ok=True)
            for outputs in (source / "pool_outputs").glob(f"{stage.name}*"):
                if (outputs / "meta.json").is_file():
                    shutil.copytree(outputs, target / "pool_outputs" / outputs.name, dirs_exist_ok=True)
    manifest = Manifest.new(target / "manifest.json", plain_config(config), config_file, origin.dataset,
                            [s.name for s in plan])
    for record in records:
        copy = StageRecord.from_dict(record.__dict__)
        copy.notes = list(record.notes) + [f"adopted from {source}"]
        manifest.stages[copy.name] = copy
    manifest.save()
    return manifest
