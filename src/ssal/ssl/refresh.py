"""Refreshing the pool part of the CPSP database with the model being trained (SPEC 3.6).

Every ``R`` epochs (before epochs R, 2R, ...), round ``r = epoch / R``:

1. the current model predicts the unlabelled pool once (sharded across ranks) into ``predictions_<r>``;
2. a new box is *stable* when it overlaps a box of the previous round's predictions of its frame by BEV IoU
   > ``stable_iou``; tau_c is re-fitted on the stable scores of class c (k = min(K_c, n_c); no stable box: the
   configured fallback); lambda stays the configured value;
3. per frame, the background is cut again with the new predictions; each stored pseudo object (the *memory*) is
   matched one-to-one, by descending BEV IoU > ``stable_iou``, to a new box: it is replaced by its match only
   when the match scores higher, still passes tau and holds a point, else kept as it is; a memory object with no
   matching box is dropped; a new box matching no memory object becomes a pseudo object (score >= tau) or a
   BACK object (score <= lambda), as in a first build. One prediction never replaces two stored objects, and a
   stored object is never replaced by a prediction below tau (both happened in the original);
4. the part is written to ``pool_<r>`` by rank 0; after a barrier every rank reloads it and trains the next
   epochs on the same database (the original refreshed on rank 0 only and the other ranks never reloaded).

Resume: the database of epoch ``e`` is ``pool_<e // R>``; parts on disk are complete (``.partial`` otherwise) and
reused, so a run resumed at any epoch trains on what an uninterrupted run trained on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ssal.active.outputs import PoolOutputs
from ssal.data.database import frame_ground
from ssal.engine.checkpoint import latest_checkpoint_path
from ssal.engine.distributed import DistContext
from ssal.engine.hooks import Hook
from ssal.geometry import boxes_iou_bev
from ssal.ssl.config import CpspStage
from ssal.ssl.database import (
    DatabasePart,
    PartWriter,
    back_name,
    clear_partial,
    file_hash,
    frame_progress,
    pool_part_name,
    predictions_name,
    split_prediction,
)
from ssal.ssl.thresholds import Thresholds, fit_thresholds

__all__ = ["PoolRefresher", "RefreshHook", "stable_scores", "match_memory", "refresh_pool_part",
           "round_for_epoch"]

_log = logging.getLogger(__name__)


def round_for_epoch(epoch: int, interval: int) -> int:
    """The database round epoch ``epoch`` (0-based) trains on."""
    return epoch // interval if interval > 0 else 0


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    return boxes_iou_bev(torch.from_numpy(np.array(a[:, :7], np.float32)),
                         torch.from_numpy(np.array(b[:, :7], np.float32))).numpy()


def stable_scores(new: PoolOutputs, old: PoolOutputs, classes: Sequence[str], iou: float) -> dict[str, np.ndarray]:
    """Per class, the scores of the new boxes that overlap a box of the same frame in ``old`` by BEV IoU > iou."""
    found: dict[str, list] = {c: [] for c in classes}
    old_positions = {fid: i for i, fid in enumerate(old.frame_ids)}
    for index, frame_id in enumerate(new.frame_ids):
        frame = new.frame(index)
        if frame_id not in old_positions or len(frame["boxes"]) == 0:
            continue
        previous = old.frame(old_positions[frame_id])["boxes"]
        stable = (_iou(frame["boxes"], previous) > iou).any(axis=1) if len(previous) else np.zeros(0, bool)
        for label, score in zip(frame["labels"][stable], frame["scores"][stable]):
            found[classes[int(label) - 1]].append(float(score))
    return {c: np.asarray(v, dtype=np.float64) for c, v in found.items()}


def match_memory(memory_boxes: np.ndarray, new_boxes: np.ndarray, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matches by descending BEV IoU > ``iou``: (match (M,) index of the new box or -1, and
    touched (K,) whether each new box overlaps some memory object by more than ``iou``)."""
    overlaps = _iou(memory_boxes, new_boxes)
    match = np.full(len(memory_boxes), -1, dtype=np.int64)
    taken = np.zeros(len(new_boxes), dtype=bool)
    for flat in np.argsort(-overlaps, axis=None, kind="stable"):
        m, p = np.unravel_index(flat, overlaps.shape)
        if overlaps[m, p] <= iou:
            break
        if match[m] < 0 and not taken[p]:
            match[m], taken[p] = p, True
    touched = (overlaps > iou).any(axis=0) if len(memory_boxes) else np.zeros(len(new_boxes), bool)
    return match, touched


def _memory_of(part: DatabasePart) -> dict[str, list[int]]:
    """Row indices of the pseudo objects of ``part``, per frame."""
    rows: dict[str, list[int]] = {}
    objects = part.objects
    for i in np.flatnonzero(objects["kind"] == "pseudo") if part.num_objects() else []:
        rows.setdefault(str(objects["frame_id"][i]), []).append(int(i))
    return rows


def refresh_pool_part(reader, infos, old_part: DatabasePart, predictions: PoolOutputs, classes: Sequence[str],
                      thresholds: Thresholds, stable_iou: float, folder: Path, num_point_features: int,
                      manifest: dict | None = None) -> Path:
    """The refreshed pool part (module rule 3) of the unlabelled frames ``infos`` (label-free)."""
    writer = PartWriter(folder, num_point_features)
    memory_rows = _memory_of(old_part)
    table = old_part.objects
    try:
        positions = predictions.positions([info.frame_id for info in infos]) if infos else []
        for info, position in frame_progress(zip(infos, positions), len(infos), "CPSP refresh"):
            points = reader.load_points(info)
            frame = predictions.frame(int(position))
            names = [classes[int(label) - 1] for label in frame["labels"]]
            scores = frame["scores"]
            background, pseudo, back = split_prediction(points, frame["boxes"], scores, names, thresholds.high,
                                                        thresholds.low)
            writer.add_background(info.frame_id, background, frame_ground(info, points))
            pseudo, back = dict(pseudo), dict(back)
            rows = memory_rows.get(info.frame_id, [])
            match, touched = match_memory(table["box"][rows] if rows else np.zeros((0, 7)), frame["boxes"],
                                          stable_iou)
            for row, p in zip(rows, match):
                if p < 0:
                    continue  # not re-detected: dropped
                if p in pseudo and scores[p] > table["score"][row]:
                    writer.add_object(names[p], "pseudo", frame["boxes"][p], pseudo[p], scores[p], info.frame_id)
                else:
                    writer.add_object(str(table["name"][row]), "pseudo", table["box"][row],
                                      old_part.rows(table["start"][row], table["count"][row]),
                                      float(table["score"][row]), info.frame_id)
            for j in np.flatnonzero(~touched):
                if j in pseudo:
                    writer.add_object(names[j], "pseudo", frame["boxes"][j], pseudo[j], scores[j], info.frame_id)
                elif j in back:
                    writer.add_object(back_name(names[j]), "back", frame["boxes"][j], back[j], scores[j],
                                      info.frame_id)
        return writer.close({"part": "pool", "frames": len(infos), "thresholds": thresholds.to_dict(),
                             **(manifest or {})})
    except BaseException:
        writer.abort()
        raise


class PoolRefresher:
    """Builds round ``r`` of the pool part from the model being trained (used by ``RefreshHook``)."""

    def __init__(self, reader, unlabelled_infos, classes: Sequence[str], stage: CpspStage, root: Path,
                 run_dir: Path, point_cloud_range, num_point_features: int, batch_size: int, seed: int,
                 thresholds_dir: Path):
        self.reader, self.infos, self.classes, self.stage = reader, list(unlabelled_infos), list(classes), stage
        self.root, self.run_dir, self.point_cloud_range = Path(root), Path(run_dir), point_cloud_range
        self.features, self.batch_size, self.seed = num_point_features, batch_size, seed
        self.thresholds_dir = Path(thresholds_dir)

    def complete(self, round_index: int) -> bool:
        return (self.root / pool_part_name(round_index) / "manifest.json").is_file()

    def refresh(self, model, round_index: int, dist: DistContext) -> None:
        """Predict (all ranks, sharded), then rank 0 writes ``pool_<r>``; every rank returns after it exists."""
        from ssal.ssl.pool import predict_unlabelled

        previous = self.root / predictions_name(round_index - 1)
        checkpoint = latest_checkpoint_path(self.run_dir)
        info = {"round": round_index, "checkpoint_sha256": file_hash(checkpoint) if checkpoint.is_file() else None}
        new = predict_unlabelled(model, self.reader, self.infos, self.classes, self.point_cloud_range,
                                 self.root / predictions_name(round_index), batch_size=self.batch_size,
                                 seed=self.seed, dist=dist, info=info)
        dist.run_on_main(self._write, round_index, new, previous, info)

    def _write(self, round_index: int, new: PoolOutputs, previous_dir: Path, info: dict) -> None:
        from ssal.ssl.pool import empty_predictions

        old = PoolOutputs.open(previous_dir) if previous_dir.is_dir() else empty_predictions(self.classes)
        stage = self.stage
        thresholds = fit_thresholds(stable_scores(new, old, self.classes, stage.stable_iou), stage.kmeans_centers,
                                    0, stage.fallback_threshold, stage.low_threshold, stage.min_predictions)
        thresholds.save(self.thresholds_dir / f"thresholds_round{round_index}.json")
        folder = self.root / pool_part_name(round_index)
        clear_partial(folder)
        refresh_pool_part(self.reader, self.infos, DatabasePart(self.root / pool_part_name(round_index - 1)), new,
                          self.classes, thresholds, stage.stable_iou, folder, self.features,
                          {"round": round_index, **info})
        _log.info("CPSP database refreshed (round %d): tau %s", round_index,
                  {c: round(v, 3) for c, v in thresholds.high.items()})


class RefreshHook(Hook):
    """Refresh the pool part before epochs R, 2R, ... (``R = stage.refresh_interval``; 0: never) and make every
    rank train on the round its epoch belongs to.

    * ``before_train``: load round ``completed_epochs // R`` if complete, else the newest complete round below it
      (a resumed run; the missing round is built in ``before_epoch``).
    * ``before_epoch``: at a refresh epoch, build the round unless complete on disk (all ranks predict, rank 0
      writes, a barrier), then every rank reloads it.
    """

    def __init__(self, refresher: PoolRefresher, interval: int):
        self.refresher = refresher
        self.interval = interval

    def before_train(self, trainer) -> None:
        target = round_for_epoch(trainer.state.completed_epochs, self.interval)
        while target > 0 and not self.refresher.complete(target):
            target -= 1
        trainer.dataset.reload_database(target)

    def before_epoch(self, trainer) -> None:
        epoch = trainer.state.epoch
        if self.interval <= 0 or epoch == 0 or epoch % self.interval:
            return
        round_index = round_for_epoch(epoch, self.interval)
        # rank 0 decides, so that every rank joins the same collectives even if a part appears meanwhile
        if trainer.dist.broadcast_object(not self.refresher.complete(round_index)):
            self.refresher.refresh(trainer.model, round_index, trainer.dist)
        trainer.dist.barrier()
        trainer.dataset.reload_database(round_index)
        trainer.state.extra["cpsp_round"] = round_index
