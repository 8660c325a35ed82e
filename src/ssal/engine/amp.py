"""Mixed precision for training: autocast + loss scaling on CUDA, plain float32 on CPU."""

from __future__ import annotations

import contextlib
import logging
from typing import ContextManager

import torch

from ssal.engine.config import AMP_MODES

__all__ = ["MixedPrecision"]

_log = logging.getLogger(__name__)


class MixedPrecision:
    """The precision a training step runs in, resolved from ``TrainConfig.amp`` and the device.

    * CPU: always float32 (CPU autocast is slower than float32 for these models and changes results).
    * CUDA ``auto``: bfloat16 where the GPU supports it (no loss scaling needed), else float16.
    * CUDA ``fp16``: float16 autocast with a ``GradScaler``; steps whose gradients overflow are skipped.

    Attributes:
        dtype: the autocast dtype, or ``None`` for float32.
        scaler: a ``torch.amp.GradScaler`` (disabled unless float16).
    """

    def __init__(self, mode: str, device: torch.device | str):
        if mode not in AMP_MODES:
            raise ValueError(f"amp must be one of {AMP_MODES}, got {mode!r}")
        self.device = torch.device(device)
        self.dtype = _resolve(mode, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self) -> ContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)


def _resolve(mode: str, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda":
        if mode in ("bf16", "fp16"):
            _log.info("amp=%s asked for, but mixed precision is only used on CUDA; training in float32", mode)
        return None
    if mode == "off":
        return None
    if mode == "fp16":
        return torch.float16
    if mode == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16
