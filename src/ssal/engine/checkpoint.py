"""Training checkpoints: atomic writes, compatibility checks, exact resume, and weights-only loading.

Layout inside a run directory ``RUN``::

    RUN/ckpt/latest.pth                 after every epoch (what ``resume`` reads)
    RUN/ckpt/checkpoint_epoch_N.pth     every ``ckpt_interval`` epochs and after the last; the newest
                                        ``keep_last`` are kept

A checkpoint is a dict::

    format_version, ssal_version, model_name, config_fingerprint,   # what it is, and for which model
    epoch (completed epochs), global_step (completed optimiser steps),
    model_state, optimizer_state, scheduler_state, scaler_state, rng_state,
    train_config (TrainConfig.to_dict()), world_size

``config_fingerprint`` is a hash of the *model* configuration: resuming or evaluating with another model or
another model config is refused with one ``SsalError`` that names the file, what it holds and what was expected.
Files are read with ``torch.load(weights_only=True)``, so opening a checkpoint never runs code from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ssal import __version__
from ssal.atomic import atomic_write_bytes, torch_bytes
from ssal.config.loader import config_fingerprint
from ssal.engine.config import RESUME_FREE_KEYS
from ssal.errors import SsalError

__all__ = [
    "FORMAT_VERSION",
    "ModelIdentity",
    "config_fingerprint",
    "checkpoint_dir",
    "latest_checkpoint_path",
    "epoch_checkpoint_path",
    "list_epoch_checkpoints",
    "save_checkpoint",
    "read_checkpoint",
    "load_checkpoint",
    "load_weights",
    "prune_checkpoints",
    "check_same_training",
]

FORMAT_VERSION = 1
_EPOCH_FILE = re.compile(r"^checkpoint_epoch_(\d+)\.pth$")


@dataclass(frozen=True)
class ModelIdentity:
    """Which model a checkpoint belongs to: its registry name and the fingerprint of its configuration."""

    name: str
    fingerprint: str

    @classmethod
    def of(cls, name: str, model_config: Any) -> ModelIdentity:
        return cls(name=name, fingerprint=config_fingerprint(model_config))

    def describe(self) -> str:
        return f"model {self.name!r} with config fingerprint {self.fingerprint}"


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "ckpt"


def latest_checkpoint_path(run_dir: str | Path) -> Path:
    return checkpoint_dir(run_dir) / "latest.pth"


def epoch_checkpoint_path(run_dir: str | Path, epoch: int) -> Path:
    return checkpoint_dir(run_dir) / f"checkpoint_epoch_{epoch}.pth"


def list_epoch_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """``[(epoch, path), ...]`` of the ``checkpoint_epoch_N.pth`` files, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _EPOCH_FILE.match(p.name))]
    return sorted(found)


def save_checkpoint(payload: Mapping[str, Any], paths: Sequence[str | Path]) -> None:
    """Serialise ``payload`` once and write it atomically to every path in ``paths``."""
    data = torch_bytes(dict(payload))
    for path in paths:
        atomic_write_bytes(path, data)


def prune_checkpoints(run_dir: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` epoch checkpoints; returns what was deleted."""
    epochs = list_epoch_checkpoints(run_dir)
    doomed = [path for _, path in epochs[: max(len(epochs) - keep_last, 0)]]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint onto the CPU and check that it is one of ours, in a format this ssal reads."""
    path = Path(path)
    if not path.is_file():
        raise SsalError("checkpoint file not found", path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load fails in many ways on a bad file; all mean the same
        raise SsalError(f"not a readable checkpoint (truncated, or not written by ssal): {_short_reason(exc)}",
                        path) from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        hint = ""
        if isinstance(payload, dict) and {"model_state", "it"} <= payload.keys():
            hint = " (this looks like an OpenPCDet checkpoint)"
        raise SsalError(f"not an ssal checkpoint: it has no format_version{hint}", path)
    if payload["format_version"] > FORMAT_VERSION:
        raise SsalError(
            f"checkpoint format {payload['format_version']} was written by a newer ssal "
            f"({payload.get('ssal_version', '?')}); this ssal ({__version__}) reads format {FORMAT_VERSION}",
            path,
        )
    return payload


def load_checkpoint(path: str | Path, expected: ModelIdentity) -> dict[str, Any]:
    """``read_checkpoint`` plus the check that it holds the ``expected`` model and model config."""
    payload = read_checkpoint(path)
    found = ModelIdentity(payload.get("model_name", "?"), payload.get("config_fingerprint", "?"))
    if found != expected:
        raise SsalError(
            f"checkpoint holds {found.describe()}, but this run expects {expected.describe()}; "
            "use the model config it was trained with, or a new run directory",
            path,
        )
    return payload


def load_weights(model: nn.Module, path: str | Path, model_name: str, model_config: Any = None) -> dict[str, Any]:
    """Initialise ``model`` from the weights in a checkpoint of another stage (e.g. CPSP from ``pretrain``).

    Only the model name must match (the config may differ, e.g. in post-processing); every tensor must fit.
    With ``model_config``, a misfit names both configurations' fingerprints. Optimiser, schedule and epoch are
    not touched. Returns the checkpoint (for its epoch/metadata).
    """
    payload = read_checkpoint(path)
    found = payload.get("model_name", "?")
    if found != model_name:
        raise SsalError(f"checkpoint holds model {found!r}, but weights for {model_name!r} were expected", path)
    context = None
    if model_config is not None:
        held = ModelIdentity(found, payload.get("config_fingerprint", "?"))
        context = f"it holds {held.describe()}, this config builds {ModelIdentity.of(model_name, model_config).describe()}"
    _check_state_fits(model, payload["model_state"], path, context)
    model.load_state_dict(payload["model_state"])
    return payload


def check_same_training(
    payload: Mapping[str, Any], path: str | Path, train_config: Mapping[str, Any], world_size: int
) -> None:
    """Refuse to resume a run whose settings would make the continuation differ from an uninterrupted run.

    Settings in ``RESUME_FREE_KEYS`` (workers, logging, checkpoint cadence) may change.
    """
    saved = payload.get("train_config", {})
    for key, value in train_config.items():
        if key in RESUME_FREE_KEYS or saved.get(key, value) == value:
            continue
        raise SsalError(
            f"checkpoint was trained with train.{key}={saved[key]!r} but this run has train.{key}={value!r}; "
            "resuming needs the same setting (or start a new run directory)",
            path,
        )
    if payload.get("world_size", world_size) != world_size:
        raise SsalError(
            f"checkpoint was trained with {payload['world_size']} processes but this run has {world_size}; "
            "resume with the same torchrun --nproc_per_node/--nnodes (or start a new run directory)",
            path,
        )


def _short_reason(error: Exception) -> str:
    """The first sentence of torch's message: torch appends paragraphs of advice (miniz internals, how to load
    without ``weights_only``) that do not belong in a one-line error."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    if not text:
        return type(error).__name__
    first = text.splitlines()[0].split(". ")[0].rstrip(".")
    return first if len(first) <= 160 else first[:157] + "..."


def _check_state_fits(model: nn.Module, state: Mapping[str, torch.Tensor], path: str | Path,
                      context: str | None = None) -> None:
    own = model.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    wrong_shape = [
        f"{key} {tuple(state[key].shape)} vs {tuple(own[key].shape)}"
        for key in own.keys() & state.keys()
        if tuple(state[key].shape) != tuple(own[key].shape)
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", sorted(wrong_shape))):
        if items:
            shown = ", ".join(items[:4]) + (f" and {len(items) - 4} more" if len(items) > 4 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        about = f"; {context}" if context else ""
        raise SsalError(f"weights do not fit the model{about} ({'; '.join(problems)})", path)
