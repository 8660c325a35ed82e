"""Training metrics: one JSON line per log interval and per epoch in ``RUN/metrics.jsonl``, mirrored to
TensorBoard when it is installed (the ``tb`` extra).

A step line (``"kind": "step"``) holds the means over the steps since the previous line, averaged over ranks::

    {"kind": "step", "step": 50, "epoch": 1, "lr": 0.0011, "beta1": 0.949, "loss": 1.93, "<loss term>": ...,
     "grad_norm": 4.2, "skipped_steps": 0, "frames_per_s": 11.8, "time": 1764300000.0}

``skipped_steps`` counts, since the start of the run, the steps whose update was not applied (non-finite
gradients; under float16 also the steps the loss scaler skipped).

An epoch line (``"kind": "epoch"``, ``epoch`` = the epoch just completed, 1-based) holds the epoch's means, its
``seconds`` and ``frames_per_s``. On resume, lines past the checkpoint's step (from the part of the epoch that was
interrupted) are dropped first, and a run started again without a checkpoint starts a new file, so the file reads
like one uninterrupted run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ssal.atomic import atomic_write_text, write_error
from ssal.engine.hooks import Hook

if TYPE_CHECKING:
    from ssal.engine.trainer import Trainer

__all__ = ["MetricsHook", "JsonlWriter", "TensorBoardWriter", "summary_writer_class"]

_log = logging.getLogger(__name__)


class JsonlWriter:
    """Appends one JSON object per line to ``path`` (flushed per line, so a crash loses at most one line)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = None

    def open(self, resumed_at_step: int | None) -> None:
        """Open for appending; lines past ``resumed_at_step`` (written after the checkpoint that training goes on
        from, 0 for a fresh start) are dropped first."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if resumed_at_step is not None and self.path.exists():
                self._truncate_after(resumed_at_step)
            self._file = open(self.path, "a", encoding="utf-8")
        except OSError as error:
            raise write_error(error, self.path) from None

    def write(self, record: dict[str, Any]) -> None:
        try:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
        except OSError as error:
            raise write_error(error, self.path) from None

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):  # a full disk was reported by write(); do not mask that error
                file.close()

    def _truncate_after(self, step: int) -> None:
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by the crash
            if isinstance(record, dict) and record.get("step", 0) <= step:
                kept.append(line + "\n")
        atomic_write_text(self.path, "".join(kept))


def summary_writer_class():
    """``torch.utils.tensorboard.SummaryWriter``, or ``None`` when TensorBoard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter


class TensorBoardWriter:
    """Writes every numeric field of a record as a scalar: ``train/<key>`` at the step, ``epoch/<key>`` at the
    epoch. Does nothing (after one info line) when TensorBoard is not installed."""

    def __init__(self, log_dir: str | Path):
        self.log_dir = Path(log_dir)
        self._writer = None

    def open(self, resumed_at_step: int | None) -> None:  # noqa: ARG002 - TensorBoard shows the newest value
        writer_class = summary_writer_class()
        if writer_class is None:
            _log.info("TensorBoard is not installed (pip install 'ssal[tb]'); skipping TensorBoard scalars")
            return
        self._writer = writer_class(log_dir=str(self.log_dir))

    def write(self, record: dict[str, Any]) -> None:
        if self._writer is None:
            return
        prefix, x = ("train", record["step"]) if record["kind"] == "step" else ("epoch", record["epoch"])
        for key, value in record.items():
            if key not in ("kind", "step", "epoch", "time") and isinstance(value, (int, float)):
                self._writer.add_scalar(f"{prefix}/{key}", value, x)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class _Window:
    """Sums of the per-step values over a span of steps (kept as tensors: no GPU sync until it is read)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.frames = 0
        self.start = time.perf_counter()

    def add(self, values: dict[str, torch.Tensor], frames: int) -> None:
        for key, value in values.items():
            value = value.detach().float()
            self.sums[key] = self.sums[key] + value if key in self.sums else value
            self.counts[key] = self.counts.get(key, 0) + 1
        self.frames += frames

    def means(self) -> dict[str, float]:
        return {key: float(total) / self.counts[key] for key, total in self.sums.items()}


class MetricsHook(Hook):
    """Averages loss terms over each log interval and each epoch, over ranks too, and hands the records to
    writers on rank 0 (default: ``RUN/metrics.jsonl`` and ``RUN/tensorboard``)."""

    def __init__(self, interval: int, tensorboard: bool = True):
        self.interval = interval
        self.tensorboard = tensorboard
        self._writers: list = []
        self._window = _Window()
        self._epoch = _Window()

    def before_train(self, trainer: Trainer) -> None:
        if not trainer.dist.is_main:
            return
        self._writers = [JsonlWriter(trainer.run_dir / "metrics.jsonl")]
        if self.tensorboard:
            self._writers.append(TensorBoardWriter(trainer.run_dir / "tensorboard"))
        # Also without a checkpoint: a run killed in its first epoch and started again must not repeat lines.
        for writer in self._writers:
            writer.open(trainer.state.global_step)

    def before_epoch(self, trainer: Trainer) -> None:
        self._window, self._epoch = _Window(), _Window()

    def after_step(self, trainer: Trainer) -> None:
        last = trainer.state.last
        values = {"loss": last.loss, **last.logs, "grad_norm": last.grad_norm}
        self._window.add(values, last.frames)
        self._epoch.add(values, last.frames)
        if trainer.state.global_step % self.interval == 0:
            record = {"kind": "step", "step": trainer.state.global_step, "epoch": trainer.state.epoch + 1}
            record.update(lr=last.lr, beta1=last.beta1, skipped_steps=trainer.state.skipped_steps)
            self._emit(trainer, record, self._window)
            self._window = _Window()

    def after_epoch(self, trainer: Trainer) -> None:
        record = {"kind": "epoch", "step": trainer.state.global_step, "epoch": trainer.state.completed_epochs}
        record["seconds"] = time.perf_counter() - self._epoch.start
        record["skipped_steps"] = trainer.state.skipped_steps
        self._emit(trainer, record, self._epoch)

    def after_train(self, trainer: Trainer) -> None:
        for writer in self._writers:
            writer.close()
        self._writers = []

    def _emit(self, trainer: Trainer, record: dict[str, Any], window: _Window) -> None:
        # Every rank takes part in the reduction; only rank 0 writes.
        seconds = max(time.perf_counter() - window.start, 1e-9)
        values = window.means()
        values["frames_per_s"] = window.frames / seconds
        values = trainer.dist.mean_over_ranks(values)
        values["frames_per_s"] *= trainer.dist.world_size  # the job's throughput, not one rank's
        record.update(values)
        record["time"] = time.time()
        for writer in self._writers:
            writer.write(record)
