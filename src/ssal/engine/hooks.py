"""Hooks: everything the training loop does besides training (checkpoints, metrics, progress, CPSP refresh...).

A hook overrides any of ``before_train``, ``before_epoch``, ``after_step``, ``after_epoch`` and ``after_train``;
each receives the ``Trainer``, whose public attributes (``state``, ``model``, ``dataset``, ``dist``, ``config``,
``run_dir``) it may read and use. Hooks run on **every** rank, in list order; a hook that writes files does so on
``trainer.dist.is_main`` and lets the others wait on ``trainer.dist.barrier()`` (or uses ``dist.run_on_main``).

Timing of the calls (``state.epoch`` is the 0-based epoch in progress):

* ``before_train``: after ``resume``; ``state.completed_epochs`` says where training starts.
* ``before_epoch``: the epoch's generators are seeded and ``dataset.set_epoch`` has been called; the DataLoader
  (and its workers) are created *after* this, so a dataset reloaded here is what the epoch trains on.
* ``after_step``: ``state.global_step`` counts the step just taken, ``state.last`` holds its loss, logs, lr.
* ``after_epoch``: ``state.completed_epochs == state.epoch + 1``.
* ``after_train``: also when training stops with an exception (close files and bars here).

Example, a hook that refreshes a database every 10 epochs (as CPSP does) on rank 0, then reloads it everywhere::

    class RefreshEvery(Hook):
        def before_epoch(self, trainer):
            if trainer.state.epoch > 0 and trainer.state.epoch % 10 == 0:
                trainer.dist.run_on_main(rebuild_database, trainer.model)   # rank 0 writes, all wait
                trainer.dataset.reload_database()                         # every rank reads
"""

from __future__ import annotations

import sys
import time
from typing import IO, TYPE_CHECKING

from tqdm import tqdm

from ssal.atomic import atomic_write_bytes
from ssal.engine.checkpoint import epoch_checkpoint_path, latest_checkpoint_path, prune_checkpoints, save_checkpoint

if TYPE_CHECKING:
    from ssal.engine.trainer import Trainer

__all__ = ["Hook", "CheckpointHook", "ProgressHook", "progress_enabled"]


class Hook:
    """Base class: every method is a no-op; override the ones you need."""

    def before_train(self, trainer: Trainer) -> None:
        pass

    def before_epoch(self, trainer: Trainer) -> None:
        pass

    def after_step(self, trainer: Trainer) -> None:
        pass

    def after_epoch(self, trainer: Trainer) -> None:
        pass

    def after_train(self, trainer: Trainer) -> None:
        pass


class CheckpointHook(Hook):
    """After every epoch: ``ckpt/latest.pth``; every ``interval`` epochs and after the last one also
    ``ckpt/checkpoint_epoch_N.pth``, keeping the newest ``keep_last``. Rank 0 writes, the others wait.

    ``latest.pth`` is written first; a run killed before its epoch file was complete gets that file back from
    ``latest.pth`` when it resumes (``before_train``)."""

    def __init__(self, interval: int, keep_last: int):
        self.interval = interval
        self.keep_last = keep_last

    def before_train(self, trainer: Trainer) -> None:
        done = trainer.state.completed_epochs
        if trainer.dist.is_main and trainer.state.resumed_from is not None and self._keeps(done, trainer):
            path = epoch_checkpoint_path(trainer.run_dir, done)
            if not path.is_file():
                atomic_write_bytes(path, trainer.state.resumed_from.read_bytes())
                prune_checkpoints(trainer.run_dir, self.keep_last)
        trainer.dist.barrier()

    def _keeps(self, done: int, trainer: Trainer) -> bool:
        return done > 0 and (done % self.interval == 0 or done == trainer.config.epochs)

    def after_epoch(self, trainer: Trainer) -> None:
        if trainer.dist.is_main:
            done = trainer.state.completed_epochs
            paths = [latest_checkpoint_path(trainer.run_dir)]
            if self._keeps(done, trainer):
                paths.append(epoch_checkpoint_path(trainer.run_dir, done))
            save_checkpoint(trainer.checkpoint(), paths)
            prune_checkpoints(trainer.run_dir, self.keep_last)
        trainer.dist.barrier()


def progress_enabled(rank: int, stream: IO) -> bool:
    """Progress bars only on rank 0 and only when a person is watching (a terminal, not a log file)."""
    isatty = getattr(stream, "isatty", None)
    return rank == 0 and bool(isatty and isatty())


class ProgressHook(Hook):
    """A tqdm bar over the whole run (rate and ETA to the end of training) with the epoch, loss and lr."""

    def __init__(self, stream: IO | None = None, refresh_s: float = 0.5):
        self.stream = stream
        self.refresh_s = refresh_s
        self._bar: tqdm | None = None
        self._last_refresh = 0.0

    def before_train(self, trainer: Trainer) -> None:
        stream = self.stream if self.stream is not None else sys.stderr
        if not progress_enabled(trainer.dist.rank, stream):
            return
        state = trainer.state
        self._bar = tqdm(
            total=state.total_steps, initial=state.global_step, unit="step", file=stream, dynamic_ncols=True
        )

    def before_epoch(self, trainer: Trainer) -> None:
        if self._bar is not None:
            self._bar.set_description(f"epoch {trainer.state.epoch + 1}/{trainer.config.epochs}")

    def after_step(self, trainer: Trainer) -> None:
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.monotonic()
        if now - self._last_refresh >= self.refresh_s:  # .item() waits for the GPU; not on every step
            self._last_refresh = now
            last = trainer.state.last
            self._bar.set_postfix(loss=f"{float(last.loss):.4f}", lr=f"{last.lr:.2e}", refresh=False)

    def after_train(self, trainer: Trainer) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
