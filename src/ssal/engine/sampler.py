"""Which dataset indices each rank visits in an epoch: a seeded shuffle, split across ranks.

Training (``ShardedSampler(..., shuffle=True, pad=True)``): the order of epoch ``e`` is a permutation drawn from
(seed, e) alone, padded by repeating its first indices up to a multiple of the world size, then dealt out
round-robin; every rank therefore gets the same number of items (and of batches, which DDP needs), and the union
over ranks is the whole dataset. Inference (``shard_indices``): no shuffle, no padding, every index exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from ssal.engine.seeding import purpose_seed_sequence

__all__ = ["ShardedSampler", "epoch_order", "shard_indices"]


def epoch_order(length: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """All ``length`` indices in the order of ``epoch`` (a permutation seeded by (seed, epoch), or 0..n-1)."""
    if not shuffle:
        return np.arange(length, dtype=np.int64)
    rng = np.random.default_rng(purpose_seed_sequence("sampler", seed, epoch))
    return rng.permutation(length).astype(np.int64)


def shard_indices(length: int, rank: int, world_size: int) -> list[int]:
    """Indices ``rank, rank + world_size, ...`` below ``length``: a balanced split with no duplicates."""
    return list(range(rank, length, world_size))


class ShardedSampler(Sampler[int]):
    """A distributed sampler whose order is a function of (seed, epoch) only; call ``set_epoch`` every epoch.

    Args:
        length: dataset length.
        rank, world_size: this process's place in the job (0 and 1 for a single process).
        shuffle: draw a new permutation every epoch.
        seed: root seed (the run's ``train.seed``).
        pad: repeat indices so that ``length`` becomes a multiple of ``world_size``; without it some ranks may
            get one item fewer.
    """

    def __init__(
        self,
        length: int,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        seed: int = 0,
        pad: bool = True,
    ):
        if length < 1:
            raise ValueError(f"cannot sample from an empty dataset (length {length})")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.length = length
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.seed = seed
        self.pad = pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.pad:
            return -(-self.length // self.world_size)
        return len(range(self.rank, self.length, self.world_size))

    def __iter__(self) -> Iterator[int]:
        order = epoch_order(self.length, self.seed, self.epoch, self.shuffle)
        if self.pad:
            total = len(self) * self.world_size
            order = np.resize(order, total)  # np.resize repeats the array cyclically to fill
        return iter(order[self.rank :: self.world_size].tolist())
