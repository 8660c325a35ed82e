"""Fixed integer hashes that pick subsets and draw masks on the model's device, reproducibly.

Random choices that must not depend on where an item sits (its row in a file, its frame's place in a batch, the
number of ranks) are taken from a hash of what the item is: a point's values, a pillar's cell, a frame's id and
the training step. Everything runs as int64 tensor arithmetic on any device; values stay in [0, 2**32).
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import torch
from torch import Tensor

__all__ = ["MASK32", "mix32", "hash_rows", "frame_seeds", "uniform_from_hash"]

MASK32 = 0xFFFFFFFF


def mix32(x: Tensor) -> Tensor:
    """Elementwise 32-bit hash (xorshift-multiply finaliser, a bijection) of int64 values in [0, 2**32). The
    multipliers stay below 2**31, so no product leaves int64 on any device."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & MASK32
    x = x ^ (x >> 15)
    x = (x * 0x1B873593) & MASK32
    return x ^ (x >> 16)


def hash_rows(values: Tensor) -> Tensor:
    """(N,) int64 in [0, 2**32): a hash of each row of ``values`` (N, F) from the float32 bit patterns of its
    entries, so equal rows hash equally wherever they are stored."""
    bits = values.float().contiguous().view(torch.int32).long() & MASK32
    h = torch.zeros(values.shape[0], dtype=torch.long, device=values.device)
    for column in bits.unbind(1):
        h = mix32(h ^ column)
    return h


def frame_seeds(seed: int, stream: str, frame_ids: Sequence[str], device: torch.device | str = "cpu") -> Tensor:
    """(B,) int64 seeds in [0, 2**32), one per frame, from ``(seed, stream, frame id)``: a frame draws the same
    numbers whichever batch, batch position or rank it is in. ``stream`` separates uses (``"train 12"``,
    ``"mc 3"``)."""
    values = [int.from_bytes(hashlib.blake2b(f"{seed}|{stream}|{frame}".encode(), digest_size=4).digest(), "little")
              for frame in frame_ids]
    return torch.tensor(values, dtype=torch.long).to(device, non_blocking=True)


def uniform_from_hash(seeds: Tensor, stream: int, shape: tuple[int, ...]) -> Tensor:
    """(B, *shape) int64 in [0, 2**32), uniform: element ``(b, ...)`` depends only on ``seeds[b]``, ``stream``
    and the element's position within ``shape``."""
    count = 1
    for size in shape:
        count *= size
    base = mix32((seeds ^ mix32(torch.full_like(seeds, stream & MASK32))) & MASK32)
    index = torch.arange(count, device=seeds.device, dtype=torch.long)
    return mix32(mix32(index[None] ^ base[:, None])).view(seeds.shape[0], *shape)
