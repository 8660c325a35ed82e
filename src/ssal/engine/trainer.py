"""The training loop: epochs of optimiser steps, with everything else (checkpoints, metrics, progress, CPSP
refreshes) done by hooks.

Contracts:

* model: ``forward(batch)`` in train mode returns ``(loss, logs)``, a scalar tensor and a dict of scalar tensors.
* dataset: ``len()``, ``__getitem__``, and ``set_epoch(epoch)``; item ``i`` of epoch ``e`` draws its random
  choices from ``SeedSequence([seed, e, i])`` (``ssal.engine.seeding.item_rng``) with ``seed = train.seed``.
* batches: what ``collate_fn`` builds, a dict with ``"batch_size"``; tensors in it are moved to the device.

Determinism: the sampler's order, the loader's worker seeds and each rank's global generators (dropout) are all
derived from (seed, epoch, rank), so a run resumed from ``ckpt/latest.pth`` continues with exactly the weights an
uninterrupted run would have (bit-identical on CPU). Multi-node runs need the run directory on a shared file
system (rank 0 writes checkpoints, every rank reads them on resume).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ssal import __version__
from ssal.engine.amp import MixedPrecision
from ssal.engine.checkpoint import (
    FORMAT_VERSION,
    ModelIdentity,
    check_same_training,
    latest_checkpoint_path,
    load_checkpoint,
)
from ssal.engine.config import TrainConfig
from ssal.engine.device import to_device
from ssal.engine.distributed import DistContext
from ssal.engine.hooks import CheckpointHook, Hook, ProgressHook
from ssal.engine.host_memory import keep_freed_memory
from ssal.engine.metrics import MetricsHook
from ssal.engine.optim import OneCycle, build_optimizer
from ssal.engine.run_folder import remove_temporary_files
from ssal.engine.sampler import ShardedSampler
from ssal.engine.seeding import (
    capture_rng_state,
    configure_determinism,
    purpose_seed_sequence,
    restore_rng_state,
    seed_epoch,
    seed_worker,
    torch_generator,
)
from ssal.errors import SsalError

__all__ = ["Trainer", "TrainState", "StepResult", "default_hooks"]

_log = logging.getLogger(__name__)


@dataclass
class StepResult:
    """What the last optimiser step produced (tensors are detached and stay on the device)."""

    loss: torch.Tensor
    logs: dict[str, torch.Tensor]
    lr: float
    beta1: float
    grad_norm: torch.Tensor
    frames: int
    applied: bool  # False when the step was skipped for a non-finite gradient


@dataclass
class TrainState:
    """Where training is. ``epoch`` is the 0-based epoch in progress; ``global_step`` counts completed steps."""

    steps_per_epoch: int
    total_steps: int
    epoch: int = 0
    completed_epochs: int = 0
    global_step: int = 0
    skipped_steps: int = 0  # steps whose update was not applied (non-finite gradients, or GradScaler's skip)
    nonfinite_streak: int = 0  # consecutive steps with a non-finite loss (or gradients, in float32)
    last: StepResult | None = None
    resumed_from: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # free space for hooks to share values


def default_hooks(config: TrainConfig) -> list[Hook]:
    """Metrics (JSONL + TensorBoard when installed), checkpoints and a progress bar.

    Metrics come before checkpoints: an epoch's line is written before the checkpoint that ends it, so a kill
    between the two leaves a line that the resume drops (it is past the previous checkpoint) and writes again,
    never a checkpoint whose epoch line is missing."""
    return [
        MetricsHook(config.log_interval),
        CheckpointHook(config.ckpt_interval, config.keep_last),
        ProgressHook(),
    ]


class Trainer:
    """Trains ``model`` on ``dataset`` under ``config``, writing into ``run_dir``.

    Args:
        model: see the module contract. Moved to ``dist.device``; wrapped in DDP when distributed.
        dataset: see the module contract.
        config: validated here.
        run_dir: the run (stage) directory; checkpoints go to ``run_dir/ckpt``.
        model_name, model_config: identify the model in checkpoints (a resume with another one is refused).
        collate_fn: builds a batch from a list of items.
        hooks: defaults to ``default_hooks(config)``; pass ``[*default_hooks(config), MyHook()]`` to add one.
        dist: from ``init_distributed()``; defaults to a single process (CUDA when available).
    """

    def __init__(
        self,
        model: nn.Module,
        dataset: Dataset,
        config: TrainConfig,
        run_dir: str | Path,
        *,
        model_name: str,
        model_config: Any,
        collate_fn: Callable[[list], Any] | None = None,
        hooks: Iterable[Hook] | None = None,
        dist: DistContext | None = None,
    ):
        if not callable(getattr(dataset, "set_epoch", None)):
            raise TypeError(f"{type(dataset).__name__} must have set_epoch(epoch) to be trained on (see ssal.engine)")
        self.config = config.validate()
        self.run_dir = Path(run_dir)
        self.dist = dist if dist is not None else DistContext.single()
        self.device = self.dist.device
        self.identity = ModelIdentity.of(model_name, model_config)
        configure_determinism(config.deterministic, self.device)
        if self.device.type == "cpu":
            keep_freed_memory()  # CPU steps reuse their freed activations instead of page-faulting them in
        self.model = model.to(self.device)
        self.train_model = self.dist.wrap_model(self.model, config.find_unused_parameters)
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.sampler = ShardedSampler(len(dataset), self.dist.rank, self.dist.world_size, seed=config.seed)
        steps_per_epoch = math.ceil(len(self.sampler) / config.batch_size)
        self.schedule = OneCycle.from_config(config, total_steps=config.epochs * steps_per_epoch)
        self.optimizer = build_optimizer(self.model, config)
        self.precision = MixedPrecision(config.amp, self.device)
        self.state = TrainState(steps_per_epoch=steps_per_epoch, total_steps=self.schedule.total_steps)
        self.hooks = list(default_hooks(config) if hooks is None else hooks)

    def train(self, resume: bool = False) -> TrainState:
        """Run (or, with ``resume``, continue) training to ``config.epochs``; returns the final state.

        Temporary files left in the run folder by a killed write are removed first (rank 0)."""
        if self.dist.is_main:
            for path in remove_temporary_files(self.run_dir):
                _log.info("removed %s, left by an interrupted write", path)
        if resume:
            self.resume()
        self._log_plan()
        self._call("before_train")
        try:
            for epoch in range(self.state.completed_epochs, self.config.epochs):
                self._begin_epoch(epoch)
                for batch in self._loader(epoch):
                    self.run_step(batch)
                    self._call("after_step")
                self.dist.sync_buffers(self.model)
                self.state.completed_epochs = epoch + 1
                self._call("after_epoch")
        finally:
            self._call("after_train")
        return self.state

    def run_step(self, batch: Mapping[str, Any]) -> StepResult:
        """One optimiser step on ``batch``: schedule, forward, backward, clip, update."""
        lr, beta1 = self.schedule.apply(self.optimizer, self.state.global_step)
        batch = to_device(batch, self.device, non_blocking=True)
        with self.precision.autocast():
            loss, logs = self.train_model(batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.precision.scaler.scale(loss).backward()
        grad_norm = self._clip_gradients()
        applied = self._apply_gradients(grad_norm)
        if not applied:
            self._count_nonfinite(loss, logs)
        else:
            self.state.nonfinite_streak = 0
        self.state.global_step += 1
        self.state.last = StepResult(
            loss=loss.detach(),
            logs={key: value.detach() for key, value in logs.items()},
            lr=lr,
            beta1=beta1,
            grad_norm=grad_norm.detach(),
            frames=_batch_frames(batch, self.config.batch_size),
            applied=applied,
        )
        return self.state.last

    def resume(self) -> bool:
        """Load ``run_dir/ckpt/latest.pth`` if there is one; returns whether it did."""
        path = latest_checkpoint_path(self.run_dir)
        if not path.is_file():
            if self.dist.is_main:
                _log.info("no checkpoint in %s; training from the start", path.parent)
            return False
        payload = load_checkpoint(path, self.identity)
        check_same_training(payload, path, self.config.to_dict(), self.dist.world_size)
        saved_steps = payload["scheduler_state"]["total_steps"]
        if saved_steps != self.schedule.total_steps:
            raise SsalError(
                f"checkpoint's schedule has {saved_steps} steps but this run has {self.schedule.total_steps} "
                f"({self.state.steps_per_epoch} per epoch): the training set changed size; "
                "resume with the same data (or start a new run directory)",
                path,
            )
        self.load_state_dict(payload)
        self.state.resumed_from = path
        if self.dist.is_main:
            _log.info("resumed from %s after epoch %d (step %d)", path, payload["epoch"], payload["global_step"])
        return True

    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly (see ``ssal.engine.checkpoint``)."""
        return {
            "format_version": FORMAT_VERSION,
            "ssal_version": __version__,
            "model_name": self.identity.name,
            "config_fingerprint": self.identity.fingerprint,
            "epoch": self.state.completed_epochs,
            "global_step": self.state.global_step,
            "skipped_steps": self.state.skipped_steps,
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.schedule.state_dict(),
            "scaler_state": self.precision.scaler.state_dict(),
            "rng_state": capture_rng_state(),
            "train_config": self.config.to_dict(),
            "world_size": self.dist.world_size,
        }

    def load_state_dict(self, payload: Mapping[str, Any]) -> None:
        """Restore model, optimiser, loss scaler, generators and counters from a checkpoint dict."""
        self.model.load_state_dict(payload["model_state"])
        self.optimizer.load_state_dict(payload["optimizer_state"])
        if payload.get("scaler_state"):
            self.precision.scaler.load_state_dict(payload["scaler_state"])
        restore_rng_state(payload["rng_state"])
        self.state.completed_epochs = self.state.epoch = payload["epoch"]
        self.state.global_step = payload["global_step"]
        self.state.skipped_steps = int(payload.get("skipped_steps", 0))

    def _begin_epoch(self, epoch: int) -> None:
        self.state.epoch = epoch
        seed_epoch(self.config.seed, epoch, self.dist.rank)
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        self.model.train()
        self._call("before_epoch")

    def _loader(self, epoch: int) -> DataLoader:
        # A new loader per epoch: workers are forked after set_epoch and the before_epoch hooks, so they see
        # this epoch's dataset; their seeds come from (seed, epoch, rank), not from the global generator.
        seeds = purpose_seed_sequence("loader", self.config.seed, epoch, self.dist.rank)
        return DataLoader(
            self.dataset,
            batch_size=self.config.batch_size,
            sampler=self.sampler,
            num_workers=self.config.workers,
            collate_fn=self.collate_fn,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=seed_worker,
            generator=torch_generator(seeds),
        )

    def _clip_gradients(self) -> torch.Tensor:
        self.precision.scaler.unscale_(self.optimizer)
        limit = self.config.grad_clip_norm if self.config.grad_clip_norm > 0 else math.inf
        return nn.utils.clip_grad_norm_(self.model.parameters(), limit)

    def _apply_gradients(self, grad_norm: torch.Tensor) -> bool:
        scaler = self.precision.scaler
        if scaler.is_enabled():  # float16: the scaler skips overflowing steps and adapts its scale
            scale = scaler.get_scale()
            scaler.step(self.optimizer)
            scaler.update()
            # The scaler lowers its scale exactly when it found inf/NaN gradients and skipped the step.
            if scaler.get_scale() < scale:
                self.state.skipped_steps += 1
                return False
            return True
        if not torch.isfinite(grad_norm):  # same decision on every rank: the gradients were all-reduced
            self.state.skipped_steps += 1
            _log.warning("non-finite gradient norm at step %d; step skipped", self.state.global_step + 1)
            return False
        self.optimizer.step()
        return True

    def _count_nonfinite(self, loss: torch.Tensor, logs: Mapping[str, torch.Tensor]) -> None:
        """After a skipped step: stop the run once the loss has been non-finite for ``max_nonfinite_steps``
        steps in a row (a diverged run would otherwise skip every step to the end and report success).

        Under float16 a skip with a finite loss (on every rank: the ranks must decide alike) is the scaler finding
        its scale, not a divergence."""
        if self.precision.scaler.is_enabled():
            bad = self.dist.mean_over_ranks({"nonfinite": float(not bool(torch.isfinite(loss.detach())))})
            if bad["nonfinite"] == 0.0:
                self.state.nonfinite_streak = 0
                return
        self.state.nonfinite_streak += 1
        if self.state.nonfinite_streak < self.config.max_nonfinite_steps:
            return
        step = self.state.global_step + 1
        terms = ", ".join(f"{key}={float(value.detach()):.4g}" for key, value in {"loss": loss, **logs}.items())
        raise SsalError(
            f"training diverged: {self.state.nonfinite_streak} steps in a row up to step {step} (epoch "
            f"{self.state.epoch + 1}) had a non-finite loss or gradients ({terms}); lower train.lr, check the "
            "data, or raise train.max_nonfinite_steps",
            self.run_dir,
        )

    def _call(self, event: str) -> None:
        for hook in self.hooks:
            getattr(hook, event)(self)

    def _log_plan(self) -> None:
        if self.dist.is_main:
            _log.info(
                "training %d frames: epochs %d..%d of %d steps (batch %d x %d processes) on %s, %s",
                len(self.dataset),
                self.state.completed_epochs + 1,
                self.config.epochs,
                self.state.steps_per_epoch,
                self.config.batch_size,
                self.dist.world_size,
                self.device,
                self.precision.name,
            )


def _batch_frames(batch: Any, default: int) -> int:
    if isinstance(batch, Mapping) and "batch_size" in batch:
        return int(batch["batch_size"])
    return default
