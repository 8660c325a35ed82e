"""Moving batches (nested dicts/lists/tuples of tensors) between devices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["to_device"]


def to_device(obj: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """Return ``obj`` with every tensor inside it moved to ``device``; other values are kept as they are.

    Walks dicts (any Mapping, rebuilt as ``dict``), lists and tuples (named tuples keep their type). A tensor that
    is already on ``device`` is returned unchanged (no copy).
    """
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, Mapping):
        return {key: to_device(value, device, non_blocking) for key, value in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(to_device(value, device, non_blocking) for value in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(value, device, non_blocking) for value in obj)
    return obj
