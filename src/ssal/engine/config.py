"""The training settings (the ``train:`` block of a config): schedule, batch, checkpoints, precision, seed.

Defaults are the paper's KITTI settings (OpenPCDet ``adam_onecycle``): Adam with decoupled weight decay 0.01 on
every parameter (BatchNorm included), one-cycle learning rate peaking at 0.01, gradient-norm clip 10.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ssal.errors import SsalError

AMP_MODES = ("auto", "off", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Training settings. Call ``validate()`` before use (``ssal.config`` does when it loads a YAML file).

    Attributes:
        epochs: passes over the training set.
        batch_size: frames per step **per process**; under ``torchrun`` the effective batch is
            ``batch_size * world_size`` (OpenPCDet's BATCH_SIZE_PER_GPU).
        workers: DataLoader worker processes per rank (0 loads in the main process). Results do not depend on it.
        lr: peak learning rate of the one-cycle schedule.
        weight_decay: decoupled (AdamW-style) decay applied to every parameter, BatchNorm and biases included.
        div_factor: the schedule starts at ``lr / div_factor``.
        pct_start: fraction of all steps spent warming up (cosine from ``lr / div_factor`` to ``lr``).
        final_div_factor: the schedule ends at ``lr / div_factor / final_div_factor``.
        moms: Adam beta1 at the start/end and at the peak of the cycle (0.95 -> 0.85 -> 0.95).
        beta2: Adam beta2 (fixed).
        grad_clip_norm: clip the global gradient L2 norm to this value; 0 disables clipping.
        ckpt_interval: keep ``ckpt/checkpoint_epoch_N.pth`` every N epochs (and after the last epoch);
            ``ckpt/latest.pth`` is rewritten after every epoch regardless.
        keep_last: how many ``checkpoint_epoch_N.pth`` files to keep (the newest ones).
        amp: mixed precision on CUDA: ``auto`` (bf16 where supported, else fp16 with loss scaling), ``bf16``,
            ``fp16`` or ``off``. Always off on CPU.
        seed: root of every random choice in training (initialisation is the caller's, see ``seed_everything``).
        log_interval: write a metrics line every this many steps.
        deterministic: on CUDA, ask cuDNN and PyTorch for deterministic kernels and turn cuDNN autotuning off,
            so that a resumed run matches an uninterrupted one bit for bit (slower). Off by default: on a GPU
            speed matters more than the last bit, and the results differ only by floating-point rounding order.
            CPU runs are always deterministic for a fixed thread count, whatever this says.
        max_nonfinite_steps: stop training with an error after this many consecutive steps with a non-finite
            loss (or, in float32, non-finite gradients); single bad steps are skipped and counted.
        find_unused_parameters: forwarded to DistributedDataParallel, for models whose steps may leave some
            parameters without a gradient (e.g. a RoI head on a batch without proposals).
    """

    epochs: int = 80
    batch_size: int = 2
    workers: int = 2
    lr: float = 0.01
    weight_decay: float = 0.01
    div_factor: float = 10.0
    pct_start: float = 0.4
    final_div_factor: float = 1e4
    moms: tuple[float, float] = (0.95, 0.85)
    beta2: float = 0.99
    grad_clip_norm: float = 10.0
    ckpt_interval: int = 5
    keep_last: int = 30
    amp: str = "auto"
    seed: int = 0
    log_interval: int = 50
    deterministic: bool = False
    find_unused_parameters: bool = False
    max_nonfinite_steps: int = 5

    def validate(self, where: str = "train") -> TrainConfig:
        """Check every value; raise ``SsalError(..., where="train.<key>")`` on the first bad one. Returns self."""
        _integer(self, "epochs", where, minimum=1)
        _integer(self, "batch_size", where, minimum=1)
        _integer(self, "workers", where, minimum=0)
        _number(self, "lr", where, low=0.0, low_open=True)
        _number(self, "weight_decay", where, low=0.0)
        _number(self, "div_factor", where, low=0.0, low_open=True)
        _number(self, "pct_start", where, low=0.0, high=1.0, low_open=True, high_open=True)
        _number(self, "final_div_factor", where, low=0.0, low_open=True)
        _moms(self, where)
        _number(self, "beta2", where, low=0.0, high=1.0, high_open=True)
        _number(self, "grad_clip_norm", where, low=0.0)
        _integer(self, "ckpt_interval", where, minimum=1)
        _integer(self, "keep_last", where, minimum=1)
        if self.amp not in AMP_MODES:
            raise SsalError(f"expected one of {', '.join(AMP_MODES)}, got {self.amp!r}", f"{where}.amp")
        _integer(self, "seed", where, minimum=0, maximum=2**63 - 1)
        _integer(self, "log_interval", where, minimum=1)
        _integer(self, "max_nonfinite_steps", where, minimum=1)
        for key in ("deterministic", "find_unused_parameters"):
            if not isinstance(getattr(self, key), bool):
                raise SsalError(f"expected true or false, got {getattr(self, key)!r}", f"{where}.{key}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (tuples as lists), for checkpoints and manifests."""
        values = dataclasses.asdict(self)
        values["moms"] = list(self.moms)
        return values


# Settings that may change when a run is resumed without changing what it computes.
RESUME_FREE_KEYS = frozenset({"workers", "log_interval", "ckpt_interval", "keep_last", "find_unused_parameters",
                              "max_nonfinite_steps", "deterministic"})


def _integer(config: TrainConfig, key: str, where: str, minimum: int, maximum: int | None = None) -> None:
    value = getattr(config, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SsalError(f"expected an integer, got {value!r}", f"{where}.{key}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise SsalError(f"expected an integer {bound}, got {value}", f"{where}.{key}")


def _number(
    config: TrainConfig,
    key: str,
    where: str,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    value = getattr(config, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SsalError(f"expected a finite number, got {value!r}", f"{where}.{key}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise SsalError(f"expected a number in {left}{low:g}, {high:g}{right}, got {value:g}", f"{where}.{key}")


def _moms(config: TrainConfig, where: str) -> None:
    moms = config.moms
    if not isinstance(moms, (tuple, list)) or len(moms) != 2:
        raise SsalError(f"expected two numbers [start, peak], got {moms!r}", f"{where}.moms")
    for value in moms:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise SsalError(f"expected two numbers in [0, 1), got {list(moms)!r}", f"{where}.moms")
