"""One pass of a detector over the pool, streamed into a ``PoolOutputs`` store, sharded across ranks.

Each rank predicts frames ``rank, rank + W, ...`` (``ssal.engine.sampler.shard_indices``) and streams them to its
own shard folder; after a barrier rank 0 merges the shards in pool order into the final folder and removes them,
and after a second barrier every rank opens the result. Nothing holds the whole pool's predictions in memory.

The frames are given to the model *without their annotations* (``annos`` and ``dontcare`` are stripped from the
infos), so predictions of unlabelled frames cannot depend on their labels.

What is computed besides the post-processed predictions depends on the strategy (``InferenceRequest``):

* ``mc_passes``: after the ordinary pass, the RoI head runs again P times on the same BEV map and RoIs with
  dropout on (seeded per batch); each final box's RoI is refined under every pass -> ``mc_boxes (K, P, 7)``.
  The BEV map and RoIs are taken from the RoI head's call with a forward hook, so the backbone runs once;
* ``gradients``: BADGE gradient embeddings from the confidence's last layer (``ssal.models.badge_embedding``);
* ``num_points``: LiDAR points inside each predicted box (``ssal.geometry.count_points_in_boxes``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ssal.active.outputs import PoolOutputs, PoolOutputsWriter, merge_outputs
from ssal.engine.device import to_device
from ssal.engine.distributed import DistContext
from ssal.engine.hooks import progress_enabled
from ssal.engine.sampler import shard_indices
from ssal.geometry import count_points_in_boxes
from ssal.models import badge_embedding
from ssal.models.hashing import frame_seeds
from ssal.models.roi_head import refine_boxes


@dataclass(frozen=True)
class InferenceRequest:
    """What pool inference computes beyond the post-processed predictions."""

    mc_passes: int = 0
    gradients: bool = False
    num_points: bool = False

    @classmethod
    def for_strategy(cls, strategy, mc_passes: int = 5) -> InferenceRequest:
        needs = set(strategy.needs)
        crb = getattr(strategy.options, "crb", None)
        if strategy.name == "crb" and crb is not None and crb.embedding == "grad_embeddings":
            needs.add("grad_embeddings")
        return cls(mc_passes=mc_passes if "mc_boxes" in needs else 0, gradients="grad_embeddings" in needs,
                   num_points="num_points" in needs)


class PoolPredictor:
    """A detector in eval mode as a function: batch -> one dict of numpy arrays per frame, in store fields."""

    def __init__(self, model: torch.nn.Module, request: InferenceRequest, seed: int = 0):
        self.model, self.request, self.seed = model, request, seed
        self._captured: dict = {}

    @torch.no_grad()
    def __call__(self, batch: dict) -> list[dict[str, np.ndarray]]:
        handle = self.model.roi_head.register_forward_hook(self._capture, with_kwargs=True) \
            if self.request.mc_passes else None
        try:
            predictions = self.model(batch, return_hidden=self.request.gradients)
        finally:
            if handle is not None:
                handle.remove()
        frames = [self._fields(p) for p in predictions]
        if self.request.mc_passes:
            self._add_mc_boxes(batch, predictions, frames)
        if self.request.num_points:
            self._add_num_points(batch, frames)
        return frames

    def _fields(self, p: dict) -> dict[str, np.ndarray]:
        out = {name: p[name].float().cpu().numpy() for name in ("boxes", "scores", "cls_probs", "roi_features")}
        out["labels"] = p["labels"].cpu().numpy()
        if self.request.gradients:
            out["grad_embeddings"] = badge_embedding(p["rcnn_logits"].float(), p["rcnn_hidden"].float()).cpu().numpy()
        return out

    def _capture(self, module, args, kwargs, output) -> None:  # noqa: ARG002 - forward-hook signature
        inputs = {k: v for k, v in kwargs.items() if k != "dropout_seeds"}  # the pillar map, the point grid
        self._captured = {"bev": args[0], "rois": args[1], "inputs": inputs}

    def _add_mc_boxes(self, batch: dict, predictions: list[dict], frames: list[dict]) -> None:
        bev, rois, inputs = self._captured["bev"], self._captured["rois"], self._captured["inputs"]
        ids = [str(i) for i in batch.get("frame_ids", [])]
        self.model.enable_mc_dropout(True)
        try:  # masks per frame and pass: a frame's value does not depend on its batch or on the number of ranks
            passes = [refine_boxes(rois, self.model.roi_head(
                bev, rois, dropout_seeds=frame_seeds(self.seed, f"mc {k}", ids, rois.device),
                **inputs).box_residuals)
                for k in range(self.request.mc_passes)]
        finally:
            self.model.enable_mc_dropout(False)
        stacked = torch.stack(passes, dim=2)  # (B, R, P, 7)
        for i, (p, frame) in enumerate(zip(predictions, frames)):
            frame["mc_boxes"] = stacked[i, p["roi_indices"]].float().cpu().numpy()

    @staticmethod
    def _add_num_points(batch: dict, frames: list[dict]) -> None:
        points = batch["points"]
        for i, frame in enumerate(frames):
            own = points[points[:, 0] == i, 1:4]
            boxes = torch.from_numpy(frame["boxes"]).to(own.device, own.dtype)
            frame["num_points"] = count_points_in_boxes(own, boxes).cpu().numpy().astype(np.int32)


def strip_labels(infos: Sequence) -> list:
    """The infos without annotations: what pool inference may see of a frame."""
    return [dataclasses.replace(info, annos=None, dontcare=None) for info in infos]


def run_pool_inference(predictor: PoolPredictor, dataset, out_dir: str | os.PathLike, classes: Sequence[str], *,
                       collate_fn, batch_size: int = 4, workers: int = 0, dist: DistContext | None = None,
                       info: dict | None = None, progress: bool = True, description: str = "pool inference"
                       ) -> PoolOutputs:
    """Predict every item of ``dataset`` (a ``DetectionDataset`` over label-free infos) into ``out_dir``.

    ``description`` labels the progress bar (name the model when several run one after another)."""
    dist = dist if dist is not None else DistContext.single()
    out_dir = Path(out_dir)
    target = out_dir if dist.world_size == 1 else out_dir.with_name(f"{out_dir.name}.rank{dist.rank}")
    indices = shard_indices(len(dataset), dist.rank, dist.world_size)
    _predict_shard(predictor, dataset, indices, target, classes, collate_fn, batch_size, workers, info,
                   progress and progress_enabled(dist.rank, sys.stderr), dist.device, description)
    if dist.world_size > 1:
        dist.barrier()
        dist.run_on_main(_merge_shards, out_dir, dist.world_size, [dataset.infos[i].frame_id
                                                                    for i in range(len(dataset))])
    return PoolOutputs.open(out_dir)


def _predict_shard(predictor, dataset, indices, target: Path, classes, collate_fn, batch_size, workers, info,
                   show: bool, device, description: str) -> None:
    loader = DataLoader(dataset, batch_size=batch_size, sampler=indices, num_workers=workers, collate_fn=collate_fn)
    model = predictor.model
    was_training = model.training
    model.eval()
    writer = None
    try:
        with tqdm(total=len(indices), desc=description, unit="frame", disable=not show) as bar:
            for batch in loader:
                frames = predictor(to_device(batch, device))
                if writer is None:
                    writer = PoolOutputsWriter(target, classes, {k: v.shape[1:] for k, v in frames[0].items()},
                                               info)
                for frame_id, frame in zip(batch["frame_ids"], frames):
                    writer.append(frame_id, **frame)
                bar.update(len(frames))
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        model.train(was_training)


def _merge_shards(out_dir: Path, world_size: int, order: list[str]) -> None:
    shards = [out_dir.with_name(f"{out_dir.name}.rank{r}") for r in range(world_size)]
    parts = [PoolOutputs.open(s) for s in shards if s.exists()]
    merge_outputs(parts, out_dir, order=order)
    for shard in shards:
        shutil.rmtree(shard, ignore_errors=True)

