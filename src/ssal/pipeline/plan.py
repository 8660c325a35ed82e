"""Which stages a config runs, in which order, and which config keys each depends on.

Stage names follow SPEC 2: ``init``, ``pretrain``, ``cpsp``, ``query``, ``final``, ``final_cpsp``, ``evaluate``.
With ``active.rounds: R > 1`` the rounds after the first are ``retrain_K`` (a model trained from scratch on the
labelled set after round K - 1, when ``active.retrain``) then ``query_K``. ``pipeline.mode: full_supervision``
runs ``init`` (every pool frame) -> ``final`` -> ``evaluate``.

A stage depends on its own config keys and on those of every stage before it: a change of ``train.epochs``
invalidates ``pretrain`` and everything after it, a change of ``active.round_budget`` only ``query`` onwards.
Keys that do not change what a stage computes (where the data lives, worker counts, logging) are left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ssal.config import config_to_dict
from ssal.errors import SsalError
from ssal.pipeline.manifest import json_sha256

__all__ = ["Stage", "build_plan", "stage_fingerprint", "stage_keys", "relevant", "changed_keys", "find_stage",
           "flatten", "plain_config", "FREE_KEYS"]

# Keys that may change between a stage and its re-run without changing what it computed.
FREE_KEYS = frozenset({
    "data.root", "train.workers", "train.log_interval", "train.ckpt_interval", "train.keep_last",
    "train.find_unused_parameters", "active.inference_batch_size", "pipeline.bev_frames", "pipeline.final_cpsp",
})

# The config prefixes each kind of stage adds to what it depends on.
_OWN_KEYS = {
    "init": ("data", "train.seed", "pipeline.seed", "pipeline.mode", "active.unit", "active.initial_budget"),
    "train": ("model", "augment", "train"),
    "cpsp": ("cpsp",),
    "query": ("active", "pipeline.pretrain", "pipeline.partner_nms_iou"),
    "evaluate": ("pipeline.eval_split",),
}


def plain_config(config) -> dict:
    """The config as JSON values (tuples as lists), as the manifest stores it."""
    return json.loads(json.dumps(config_to_dict(config), default=str))


@dataclass(frozen=True)
class Stage:
    """One step of the plan. ``round``: the query round it queries for or trains after (0 = the initial set)."""

    name: str
    kind: str  # init | train | cpsp | query | evaluate
    round: int = 0

    @property
    def makes_model(self) -> bool:
        return self.kind in ("train", "cpsp")


def build_plan(config) -> list[Stage]:
    """The stages of ``config`` in order."""
    pipeline, rounds = config.pipeline, config.active.rounds
    if pipeline.mode == "full_supervision":
        return [Stage("init", "init"), Stage("final", "train"), Stage("evaluate", "evaluate")]
    plan = [Stage("init", "init"), Stage("pretrain", "train")]
    if pipeline.uses_cpsp:
        plan.append(Stage("cpsp", "cpsp"))
    plan.append(Stage("query", "query", 1))
    for k in range(2, rounds + 1):
        if config.active.retrain:
            plan.append(Stage(f"retrain_{k}", "train", k - 1))
        plan.append(Stage(f"query_{k}", "query", k))
    plan.append(Stage("final", "train", rounds))
    if pipeline.runs_final_cpsp:
        plan.append(Stage("final_cpsp", "cpsp", rounds))
    plan.append(Stage("evaluate", "evaluate", rounds))
    return plan


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def stage_keys(plan: list[Stage], stage: Stage, mode: str) -> tuple[str, ...]:
    """The config prefixes ``stage`` depends on: its own and those of every stage before it."""
    prefixes: list[str] = []
    for item in plan:
        own = _OWN_KEYS[item.kind]
        if item.kind == "init" and mode == "full_supervision":
            own = tuple(p for p in own if not p.startswith("active."))
        prefixes.extend(own)
        if item == stage:
            break
    return tuple(prefixes)


def relevant(config_dict: dict, prefixes: tuple[str, ...]) -> dict[str, Any]:
    flat = flatten(config_dict)
    return {key: value for key, value in flat.items() if key not in FREE_KEYS
            and any(key == p or key.startswith(p + ".") for p in prefixes)}


def stage_fingerprint(config, plan: list[Stage], stage: Stage) -> str:
    """The hash of the config keys ``stage`` depends on."""
    config_dict = plain_config(config)
    return json_sha256(relevant(config_dict, stage_keys(plan, stage, config.pipeline.mode)))


def changed_keys(recorded: dict, config, plan: list[Stage], stage: Stage) -> list[tuple[str, Any, Any]]:
    """``(key, recorded value, current value)`` of every key ``stage`` depends on that differs."""
    prefixes = stage_keys(plan, stage, config.pipeline.mode)
    old, new = relevant(recorded, prefixes), relevant(plain_config(config), prefixes)
    missing = object()
    return [(key, old.get(key, missing), new.get(key, missing)) for key in sorted(set(old) | set(new))
            if old.get(key, missing) != new.get(key, missing)]


def find_stage(plan: list[Stage], name: str | None, option: str) -> int | None:
    """The index of stage ``name`` in ``plan`` (None for None); an unknown name is an error naming the option."""
    if name is None:
        return None
    names = [s.name for s in plan]
    if name not in names:
        raise SsalError(f"unknown stage {name!r}; this config's stages are {', '.join(names)}", option)
    return names.index(name)
