"""Argument checks shared by the geometry functions: cheap shape checks that turn a wrong array into a one-line
``SsalError`` naming the argument, instead of a broadcasting error from deep inside torch."""

from __future__ import annotations

import torch
from torch import Tensor

from ssal.errors import SsalError


def check_rows(array: Tensor, name: str, min_columns: int, what: str) -> None:
    """Require a 2-D tensor with at least ``min_columns`` columns (``what`` describes one row in the message)."""
    if not isinstance(array, Tensor):
        raise SsalError(f"expected a torch.Tensor of {what}, got {type(array).__name__}", name)
    if array.ndim != 2 or array.shape[1] < min_columns:
        raise SsalError(f"expected shape (N, {min_columns}) ({what}), got {tuple(array.shape)}", name)


def working_dtype(*arrays: Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32 (half precision is too coarse for the geometry)."""
    dtype = arrays[0].dtype
    for array in arrays[1:]:
        dtype = torch.promote_types(dtype, array.dtype)
    return torch.float64 if dtype == torch.float64 else torch.float32


def result_dtype(*arrays: Tensor) -> torch.dtype:
    """The dtype results are returned in: the inputs' promoted float dtype, float32 for integer inputs."""
    dtype = arrays[0].dtype
    for array in arrays[1:]:
        dtype = torch.promote_types(dtype, array.dtype)
    return dtype if dtype.is_floating_point else torch.float32
