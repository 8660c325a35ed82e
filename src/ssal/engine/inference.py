"""Running a model over a dataset, sharded across ranks, with the results gathered back in dataset order.

Rank ``r`` of ``W`` predicts items ``r, r + W, r + 2W, ...`` (no padding, no duplicates); the per-item results
(moved to the CPU) are gathered and put back in dataset order on rank 0 only by default (``gather="main"``; the
other ranks get ``None``), or on every rank (``gather="all"``, so each rank can go on with the same predictions).
``"all"`` holds the whole dataset's results in every rank's memory (a Waymo pool's 256-d RoI features are several
GB per rank): use it for small results only; for a whole pool, stream per-rank shards to disk as
``ssal.active.pool_inference`` does. With one process it is a plain loop. The model's train/eval mode is restored afterwards, so a hook
may call this in the middle of training (as the CPSP refresh does).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ssal.engine.device import to_device
from ssal.engine.distributed import DistContext
from ssal.engine.hooks import progress_enabled
from ssal.engine.host_memory import keep_freed_memory
from ssal.engine.sampler import shard_indices

__all__ = ["predict"]


def predict(
    model: nn.Module,
    dataset: Dataset,
    *,
    collate_fn: Callable[[list], Any] | None = None,
    batch_size: int = 1,
    workers: int = 0,
    dist: DistContext | None = None,
    gather: str = "main",
    progress: bool = True,
    description: str = "predict",
) -> list[Any] | None:
    """Predictions for every item of ``dataset``: ``result[i]`` is what ``model`` returned for item ``i``.

    ``model`` in eval mode maps a batch to a list with one entry per frame (e.g. a dict of tensors); the entries
    are moved to the CPU. Pass the unwrapped model (not the DDP wrapper).

    Args:
        gather: ``"main"`` (results on rank 0, ``None`` elsewhere) or ``"all"`` (results on every rank).
        progress: show a tqdm bar (rank 0, on a terminal only).
    """
    if gather not in ("all", "main"):
        raise ValueError(f"gather must be 'all' or 'main', got {gather!r}")
    dist = dist if dist is not None else DistContext.single()
    if dist.device.type == "cpu":
        keep_freed_memory()
    indices = shard_indices(len(dataset), dist.rank, dist.world_size)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=indices, num_workers=workers, collate_fn=collate_fn)
    show = progress and progress_enabled(dist.rank, sys.stderr)
    with tqdm(total=len(indices), desc=description, unit="frame", disable=not show) as bar:
        local = _predict_batches(model, loader, bar)
    if len(local) != len(indices):
        raise ValueError(f"the model returned {len(local)} results for {len(indices)} frames")
    if gather == "all":
        return _in_dataset_order(dist.all_gather_object(local), len(dataset), dist.world_size)
    shards = dist.gather_object(local)
    return None if shards is None else _in_dataset_order(shards, len(dataset), dist.world_size)


def _predict_batches(model: nn.Module, loader: DataLoader, bar: tqdm) -> list[Any]:
    device = next(model.parameters()).device
    results: list[Any] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                outputs = list(model(to_device(batch, device, non_blocking=True)))
                expected = batch.get("batch_size") if isinstance(batch, dict) else None
                if expected is not None and len(outputs) != expected:
                    raise ValueError(f"the model returned {len(outputs)} results for a batch of {expected} frames")
                results.extend(to_device(outputs, "cpu"))
                bar.update(len(outputs))
    finally:
        model.train(was_training)
    return results


def _in_dataset_order(shards: list[list[Any]], length: int, world_size: int) -> list[Any]:
    ordered: list[Any] = [None] * length
    for rank, shard in enumerate(shards):
        ordered[rank::world_size] = shard
    return ordered

