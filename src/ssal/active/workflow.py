"""The active-learning steps as a run config sees them: what ``ssal ledger init``, ``ssal query`` and
``ssal import-labels`` do, minus the argument parsing.

The pool is the config's train split (``data.train_split``); the classes are ``data.classes``. In simulation the
oracle reads the pool's labels from the dataset; the strategies never receive them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ssal.active.annotation import import_labels
from ssal.active.budget import Budget
from ssal.active.config import ActiveConfig
from ssal.active.initial import request_initial, select_initial
from ssal.active.ledger import DatasetIdentity, Ledger, Round
from ssal.active.oracle import SimulatedOracle
from ssal.active.outputs import PoolOutputs
from ssal.active.query import query_round
from ssal.active.strategies import get_strategy
from ssal.errors import SsalError, warn
from ssal.file_hash import file_sha256


@dataclass
class Pool:
    """The dataset reader, the pool's frame ids and the identity a ledger records."""

    dataset: object
    frame_ids: list[str]
    identity: DatasetIdentity
    classes: list[str]

    def oracle(self) -> SimulatedOracle:
        """The simulated annotator: every pool frame's labels (the only whole-pool label read)."""
        split = self.identity.split
        return SimulatedOracle.from_infos(self.dataset.infos(split, count_points=False), self.classes,
                                          where=f"{self.dataset.root} ({split} split)")


def open_pool(config) -> Pool:
    from ssal.data.datasets import dataset_from_config

    dataset = dataset_from_config(config.data)
    split = config.data.train_split
    frame_ids = dataset.split_ids(split)
    classes = list(config.data.classes)
    return Pool(dataset, frame_ids, DatasetIdentity.of(config.data.format, split, classes, frame_ids), classes)


def init_ledger(config, budget: Budget, seed: int, out: str | os.PathLike, oracle: bool = True) -> Ledger:
    """A new ledger with its initial set: bought from the simulated oracle, or (``oracle=False``) waiting for
    people's labels. Refuses to overwrite an existing ledger."""
    if Path(out).exists():
        raise SsalError("a ledger already exists here; choose another --out or delete it", out)
    pool = open_pool(config)
    if oracle:
        simulated = pool.oracle()
        ledger = Ledger.create(config.data.format, pool.identity.split, pool.classes, pool.frame_ids,
                               denominator=simulated.totals())
        select_initial(ledger, simulated, budget, seed)
    else:
        ledger = Ledger.create(config.data.format, pool.identity.split, pool.classes, pool.frame_ids, mode="human")
        request_initial(ledger, budget, seed)
    ledger.save(out)
    return ledger


def load_ledger(path: str | os.PathLike, pool: Pool | None = None) -> Ledger:
    return Ledger.load(path, expect=None if pool is None else pool.identity)


@dataclass
class QueryResult:
    """What a query round recorded: the round (as added to the ledger) and the ranking files."""

    round: Round
    files: list[Path]


def query(config, ledger_path: str | os.PathLike, strategy_name: str, budget: Budget, out_dir: str | os.PathLike, *,
          ckpt: str | None = None, partner_ckpt: str | None = None, outputs: str | None = None,
          partner_outputs: str | None = None, oracle: bool = True, seed: int | None = None, dist=None
          ) -> QueryResult:
    """One query round: pool inference (or precomputed ``outputs``), the strategy's ranking, then the oracle's
    purchase (or a round waiting for labels), the ranking files and the saved ledger.

    Under ``torchrun`` every rank predicts its shard of the pool; ranking, buying and writing happen on rank 0,
    and every rank returns its result."""
    pool = open_pool(config)
    ledger = load_ledger(ledger_path, pool)
    if oracle and ledger.mode == "human":
        raise SsalError("this ledger waits for human labels (made with --no-oracle): query with --no-oracle too",
                        ledger_path)
    settings = config.active
    strategy = get_strategy(strategy_name, settings)
    if (partner_ckpt or partner_outputs) and not strategy.partner:
        raise SsalError(f"strategy {strategy_name!r} does not use a partner model", "--partner-ckpt")
    round_index = len(ledger.rounds)
    # Every input is checked before any work: a bad partner checkpoint must not surface after an hour of
    # inference with the own model.
    own_source = _source(config, ckpt, outputs, round_index, "--ckpt", "--outputs")
    partner_source = None
    if partner_ckpt or partner_outputs:
        partner_source = _source(config, partner_ckpt, partner_outputs, round_index, "--partner-ckpt",
                                 "--partner-outputs")
    elif strategy.partner:
        warn(f"strategy {strategy.name!r} runs without the model cascade (no --partner-ckpt or --partner-outputs): "
             "the own model's predictions are used unchecked", "--partner-ckpt")
    frames = _frames_to_predict(ledger, strategy)
    own = _outputs(config, pool, own_source, frames, strategy, settings, Path(out_dir) / "pool_outputs", dist,
                   round_index, "own model")
    partner = None
    if partner_source is not None:
        partner = _outputs(config, pool, partner_source, ledger.unlabelled, None, settings,
                           Path(out_dir) / "partner_outputs", dist, round_index, "partner model")
    seed = config.train.seed if seed is None else seed

    def rank_and_record() -> QueryResult:
        simulated = pool.oracle() if oracle else None
        _, item, files = query_round(strategy, own, ledger, budget, seed, simulated, out_dir, settings.overshoot,
                                     partner)
        ledger.save(ledger_path)
        return QueryResult(item, files)

    return dist.run_on_main(rank_and_record) if dist is not None else rank_and_record()


def import_label_files(ledger_path: str | os.PathLike, label_dir: str | os.PathLike) -> Round:
    """Complete the pending round of the ledger from KITTI label files and save it."""
    ledger = Ledger.load(ledger_path)
    item = import_labels(ledger, label_dir)
    ledger.save(ledger_path)
    return item


def _frames_to_predict(ledger: Ledger, strategy) -> list[str]:
    view = ledger.view()
    if strategy.labelled_outputs in ("required", "optional"):
        return list(view.labelled) + list(view.unlabelled)
    return list(view.unlabelled)


@dataclass
class _Source:
    """Where a model's pool outputs come from: a loaded checkpoint (to run) or saved outputs (opened)."""

    ckpt: str | None = None
    model: object = None
    checkpoint_sha256: str | None = None
    outputs: PoolOutputs | None = None


def _source(config, ckpt, outputs, round_index: int, ckpt_flag: str, outputs_flag: str) -> _Source:
    """Open and check a model's checkpoint or saved outputs (nothing is computed yet)."""
    if outputs:
        saved = PoolOutputs.open(outputs)
        if ckpt and not Path(ckpt).is_file():
            raise SsalError("checkpoint file not found", ckpt)
        check_outputs_round(saved, round_index, file_sha256(ckpt) if ckpt else None)
        return _Source(outputs=saved)
    if not ckpt:
        raise SsalError(f"give {ckpt_flag} (a model to run over the pool) or {outputs_flag} (its saved "
                        "predictions)", ckpt_flag)
    return _Source(ckpt=ckpt, model=load_pool_model(config, ckpt), checkpoint_sha256=file_sha256(ckpt))


def check_outputs_round(outputs: PoolOutputs, round_index: int, checkpoint_sha256: str | None = None) -> None:
    """Refuse saved pool outputs made for another round of the ledger, or (when known) by another checkpoint.

    Outputs written by ``ssal query`` record both (``info["ledger_round"]``, ``info["checkpoint_sha256"]``);
    outputs made elsewhere that record neither cannot be checked and are taken as they are."""
    made_for = outputs.info.get("ledger_round")
    if made_for is not None and int(made_for) != round_index:
        raise SsalError(f"these pool outputs were made for round {made_for}, but the ledger's next round is "
                        f"{round_index}: the labelled set has changed since; run pool inference again (--ckpt)",
                        outputs.source)
    held = outputs.info.get("checkpoint_sha256")
    if checkpoint_sha256 is not None and held is not None and held != checkpoint_sha256:
        raise SsalError(f"these pool outputs were made by another checkpoint (sha256 {held[:12]}..., the given one "
                        f"is {checkpoint_sha256[:12]}...)", outputs.source)



def load_pool_model(config, ckpt: str | os.PathLike):
    """The configured detector with the weights of ``ckpt`` (every check of the checkpoint happens here)."""
    from ssal.engine.checkpoint import load_weights
    from ssal.models import build_detector

    model_config = config.model  # its classes equal data.classes (checked when the config loads)
    model = build_detector(model_config, seed=config.train.seed)
    load_weights(model, ckpt, model_config.name, model_config)
    return model


def _outputs(config, pool: Pool, source: _Source, frames, strategy, settings: ActiveConfig, out_dir: Path,
             dist, round_index: int, role: str) -> PoolOutputs:
    if source.outputs is not None:
        return source.outputs
    info = {"ledger_round": round_index, "checkpoint_sha256": source.checkpoint_sha256}
    return predict_pool(config, pool, source.ckpt, frames, out_dir, strategy, settings, dist, model=source.model,
                        info=info, description=f"pool inference, {role}")


def predict_pool(config, pool: Pool, ckpt: str, frame_ids: list[str], out_dir: Path, strategy,
                 settings: ActiveConfig, dist=None, *, model=None, info: dict | None = None,
                 description: str = "pool inference") -> PoolOutputs:
    """Run the checkpoint's detector (``config.model``) over ``frame_ids`` of the pool into ``out_dir``.

    ``model``: the detector already loaded from ``ckpt`` (``load_pool_model``); ``info`` is stored with the
    outputs (``ssal query`` records the ledger round and the checkpoint's hash there)."""
    from ssal.active.pool_inference import InferenceRequest, PoolPredictor, run_pool_inference, strip_labels
    from ssal.data.loader import DetectionDataset, collate

    model = load_pool_model(config, ckpt) if model is None else model
    if dist is not None:
        model.to(dist.device)
    infos = {info.frame_id: info for info in pool.dataset.infos(pool.identity.split, count_points=False)}
    dataset = DetectionDataset(pool.dataset, strip_labels([infos[f] for f in frame_ids]), config.data.classes,
                               config.model.point_cloud_range)
    request = InferenceRequest() if strategy is None else InferenceRequest.for_strategy(
        strategy, settings.mc_dropout.passes)
    stored = {"checkpoint": str(Path(ckpt).resolve()), "request": request.__dict__, **(info or {})}
    return run_pool_inference(PoolPredictor(model, request, config.train.seed), dataset, out_dir, config.data.classes,
                              collate_fn=collate, batch_size=settings.inference_batch_size, dist=dist, info=stored,
                              description=description)
