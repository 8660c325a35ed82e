"""CPSP as one call: build the database, train on labelled frames and pseudo-scenes, refresh, report quality.

Public API (``ssal cpsp`` and the pipeline's ``cpsp`` / ``final_cpsp`` stages call it)::

    from ssal.ssl.cpsp import run_cpsp
    checkpoint: Path = run_cpsp(config, ledger_path, init_checkpoint, out_dir, *,
                                final=False, epochs=None, resume=False)

* ``config``: the run config (``config.cpsp`` holds the CPSP settings, ``config.train`` the optimiser);
* ``ledger_path``: the budget ledger; its labelled frames are L, the rest of the pool is U. A ledger of another
  pool, or one with no labelled frame, is refused;
* ``init_checkpoint``: the weights training starts from (``pretrain``, or ``final`` for ``final=True``); a
  checkpoint of another model config is refused;
* ``final``: the final stage (lambda_final, K_final, repeat_final, no BACK groups);
* ``epochs``: overrides ``cpsp.epochs`` / ``train.epochs``;
* ``resume``: continue from ``out_dir/ckpt/latest.pth``, reusing every complete database part on disk;
  without it training starts over, reusing only the complete ``labelled`` and round-0 parts (they depend on the
  ledger and the initial checkpoint, both checked) and rebuilding the refreshes; ``.partial`` leftovers of a
  killed run are always rebuilt;
* ``dist``: optional ``DistContext``; by default the torchrun job this process belongs to (or a single process).

It writes ``out_dir/database/`` (``ssal.ssl.database``), ``out_dir/ckpt/`` (``latest.pth`` and epoch
checkpoints), ``out_dir/metrics.jsonl``, ``out_dir/config.yaml``, ``out_dir/thresholds.json`` (round 0) and
``out_dir/thresholds_round<r>.json`` (refreshes), and, when the pool's labels are available to the simulation,
``out_dir/pseudo_label_quality.json`` (``ssal.ssl.quality``, computed after training from the files). Returns
``out_dir/ckpt/latest.pth``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from ssal.active.ledger import pool_fingerprint
from ssal.atomic import atomic_write_text
from ssal.config import Config, config_to_yaml
from ssal.data.loader import collate
from ssal.engine import Trainer, default_hooks, load_weights
from ssal.engine.checkpoint import latest_checkpoint_path
from ssal.engine.distributed import DistContext, init_distributed
from ssal.errors import SsalError, warn
from ssal.models import build_detector
from ssal.ssl.config import CpspStage
from ssal.ssl.database import (
    DatabasePart,
    build_labelled_part,
    build_pool_part,
    clear_partial,
    file_hash,
    pool_part_name,
    predictions_name,
)
from ssal.ssl.mixed_dataset import MixedDataset
from ssal.ssl.refresh import PoolRefresher, RefreshHook
from ssal.ssl.thresholds import fit_thresholds, scores_per_class

__all__ = ["run_cpsp", "CpspInputs", "prepare_inputs", "build_database"]

_log = logging.getLogger(__name__)


@dataclasses.dataclass
class CpspInputs:
    """What a CPSP run works on: the reader, L (with labels) and U (labels stripped)."""

    reader: object
    labelled: list
    unlabelled: list
    stage: CpspStage
    ledger_frames: list[str]


def prepare_inputs(config: Config, ledger_path: str | Path, final: bool) -> CpspInputs:
    """Open the pool, check the ledger against it, and split it into L and U."""
    from ssal.active.pool_inference import strip_labels
    from ssal.active.workflow import load_ledger, open_pool

    pool = open_pool(config)
    ledger = load_ledger(ledger_path, pool)
    labelled_ids = list(ledger.labelled)
    if not labelled_ids:
        raise SsalError("the ledger has no labelled frame; CPSP trains on labelled frames and pseudo-scenes "
                        "(run `ssal ledger init` with a budget first)", ledger_path)
    infos = {info.frame_id: info for info in
             pool.dataset.infos(config.data.train_split, count_points=config.data.filter_empty_boxes)}
    labelled = [infos[f] for f in labelled_ids]
    chosen = set(labelled_ids)
    unlabelled = strip_labels([infos[f] for f in pool.frame_ids if f not in chosen])
    return CpspInputs(pool.dataset, labelled, unlabelled, config.cpsp.stage(list(config.data.classes), final),
                      labelled_ids)


def _check_reuse(folder: Path, key: str, expected: str) -> None:
    found = DatabasePart(folder).manifest.get(key)
    if found != expected:
        raise SsalError(f"this database part was built with {key} {found}, this run has {expected}; "
                        "use a new --out (or delete the folder) to rebuild it", folder)


def build_database(config: Config, inputs: CpspInputs, model, init_checkpoint: Path, root: Path, out_dir: Path,
                   dist: DistContext) -> None:
    """``root/labelled`` and round 0 of the pool (``predictions_0``, ``pool_0``, ``out_dir/thresholds.json``),
    each skipped when complete on disk. Every rank predicts its shard of U; rank 0 writes."""
    from ssal.ssl.pool import predict_unlabelled

    classes, stage = list(config.data.classes), inputs.stage
    features = config.model.num_point_features
    labelled_key = pool_fingerprint(inputs.ledger_frames)  # which labelled set the part was built from
    checkpoint_hash = file_hash(init_checkpoint)

    def labelled_part() -> None:
        folder = root / "labelled"
        if (folder / "manifest.json").is_file():
            return _check_reuse(folder, "labelled_frames", labelled_key)
        clear_partial(folder)
        build_labelled_part(inputs.reader, inputs.labelled, classes, folder, features,
                            {"labelled_frames": labelled_key})

    dist.run_on_main(labelled_part)
    pool_folder = root / pool_part_name(0)
    if dist.broadcast_object((pool_folder / "manifest.json").is_file()):
        dist.run_on_main(_check_reuse, pool_folder, "checkpoint_sha256", checkpoint_hash)
        return
    info = {"round": 0, "checkpoint_sha256": checkpoint_hash}
    predictions = predict_unlabelled(model, inputs.reader, inputs.unlabelled, classes,
                                     config.model.point_cloud_range, root / predictions_name(0),
                                     batch_size=config.cpsp.inference_batch_size, seed=config.train.seed, dist=dist,
                                     info=info)

    def pool_part() -> None:
        thresholds = fit_thresholds(scores_per_class(predictions.scores, predictions.labels, classes),
                                    stage.kmeans_centers, stage.extra_centers, stage.fallback_threshold,
                                    stage.low_threshold, stage.min_predictions)
        thresholds.save(out_dir / "thresholds.json")
        if inputs.unlabelled and predictions.num_boxes == 0:
            warn(f"the model predicted nothing on the {len(inputs.unlabelled)} unlabelled frames: the database "
                 "holds backgrounds and ground-truth objects only", init_checkpoint)
        clear_partial(pool_folder)
        build_pool_part(inputs.reader, inputs.unlabelled, predictions, classes, thresholds, pool_folder, features,
                        {"round": 0, **info})

    dist.run_on_main(pool_part)


def run_cpsp(config: Config, ledger_path: str | Path, init_checkpoint: str | Path, out_dir: str | Path, *,
             final: bool = False, epochs: int | None = None, resume: bool = False,
             dist: DistContext | None = None) -> Path:
    """See the module docstring."""
    dist = dist or init_distributed()
    out_dir, init_checkpoint = Path(out_dir), Path(init_checkpoint)
    if not init_checkpoint.is_file():
        raise SsalError("checkpoint not found", init_checkpoint)
    inputs = prepare_inputs(config, ledger_path, final)
    model = build_detector(config.model, seed=config.train.seed)
    load_weights(model, init_checkpoint, config.model.name, config.model)
    model.to(dist.device)
    if dist.is_main:
        atomic_write_text(out_dir / "config.yaml", config_to_yaml(config))
    root = out_dir / "database"
    if not resume:
        dist.run_on_main(_forget_refreshes, root, out_dir)
    build_database(config, inputs, model, init_checkpoint, root, out_dir, dist)

    from ssal.pipeline.supervised import build_training_set

    train_config = dataclasses.replace(config.train, epochs=epochs or config.cpsp.epochs or config.train.epochs)
    stage = inputs.stage
    dataset = MixedDataset(build_training_set(config, inputs.reader, inputs.labelled), root, stage,
                           config.train.seed, round_index=0)
    refresher = PoolRefresher(inputs.reader, inputs.unlabelled, config.data.classes, stage, root, out_dir,
                              config.model.point_cloud_range, config.model.num_point_features,
                              config.cpsp.inference_batch_size, config.train.seed, out_dir)
    hooks = [*default_hooks(train_config), RefreshHook(refresher, stage.refresh_interval)]
    trainer = Trainer(model, dataset, train_config, out_dir, model_name=config.model.name,
                      model_config=config.model, collate_fn=collate, hooks=hooks, dist=dist)
    trainer.train(resume=resume)
    if dist.is_main:
        _write_quality(config, inputs, root, out_dir)
    dist.barrier()
    return latest_checkpoint_path(out_dir)


def _forget_refreshes(root: Path, out_dir: Path) -> None:
    """A run that starts over (no --resume) must not reuse the refreshed rounds of an earlier run: they came
    from that run's models. Round 0 stays (it depends only on the initial checkpoint, which is checked)."""
    import shutil

    for folder in sorted(root.glob("pool_*")) + sorted(root.glob("predictions_*")):
        index = folder.name.split("_", 1)[1].split(".", 1)[0]
        if index.isdigit() and int(index) > 0:
            shutil.rmtree(folder)
    for stale in out_dir.glob("thresholds_round*.json"):
        stale.unlink()


def _write_quality(config: Config, inputs: CpspInputs, root: Path, out_dir: Path) -> None:
    """pseudo_label_quality.json when the simulation has the pool's labels (read here, after training)."""
    from ssal.ssl.quality import pseudo_label_quality, write_quality

    hidden = {info.frame_id: info for info in inputs.reader.infos(config.data.train_split, count_points=False)}
    truth = [hidden[info.frame_id] for info in inputs.unlabelled]
    if not truth or any(info.annos is None for info in truth):
        return
    write_quality(out_dir / "pseudo_label_quality.json",
                  pseudo_label_quality(root, truth, list(config.data.classes)))
