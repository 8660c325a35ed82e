"""A two-rank training + inference run of the toy model, for the distributed engine tests.

Run it the way users run ``ssal train``::

    torchrun --standalone --nproc_per_node=2 tests/helpers/engine_dist.py OUT_DIR

Each rank writes ``OUT_DIR/rank<r>.pt`` with its final parameters, the data versions it trained on (a toy
database refreshed on rank 0 every 2 epochs and reloaded by every rank) and its sharded predictions.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.engine_toys import TOY_MODEL_CONFIG, ToyDataset, ToyModel, toy_collate  # noqa: E402
from ssal.engine import Hook, TrainConfig, Trainer, default_hooks, distributed_session, predict  # noqa: E402
from ssal.atomic import atomic_write_json  # noqa: E402
from ssal.engine.seeding import seed_everything  # noqa: E402
from ssal.errors import SsalError  # noqa: E402

CONFIG = TrainConfig(epochs=4, batch_size=4, workers=0, seed=11, log_interval=3, ckpt_interval=2)


class SharedRefresh(Hook):
    """Every 2 epochs rank 0 writes a new database version; after the barrier every rank loads it."""

    def __init__(self):
        self.versions = []

    def before_epoch(self, trainer):
        path = trainer.run_dir / "database.json"
        if trainer.state.epoch > 0 and trainer.state.epoch % 2 == 0:
            trainer.dist.run_on_main(atomic_write_json, path, {"version": trainer.state.epoch // 2})
            trainer.dataset.version = json.loads(path.read_text())["version"]
        self.versions.append(trainer.dataset.version)


def main(out_dir: Path) -> None:
    torch.set_num_threads(1)  # two ranks share the cores
    logging.basicConfig(level=logging.INFO, format="rank %(rank)s %(name)s: %(message)s")
    with distributed_session(device="cpu", timeout_s=120) as dist:
        logging.getLogger().handlers[0].addFilter(_RankFilter(dist.rank))
        seed_everything(CONFIG.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
        model = ToyModel()
        refresh = SharedRefresh()
        trainer = Trainer(model, ToyDataset(40, seed=CONFIG.seed), CONFIG, out_dir / "run", model_name="toy",
                          model_config=TOY_MODEL_CONFIG, collate_fn=toy_collate,
                          hooks=[*default_hooks(CONFIG), refresh], dist=dist)
        state = trainer.train()
        predictions = predict(model, ToyDataset(11), collate_fn=toy_collate, batch_size=2, dist=dist, gather="all")
        on_main = predict(model, ToyDataset(11), collate_fn=toy_collate, batch_size=2, dist=dist)  # default: rank 0
        failure = _failure_seen_by(dist)
        torch.save(
            {"state": model.state_dict(), "versions": refresh.versions, "steps": state.global_step,
             "predictions": predictions, "on_main": on_main, "world_size": dist.world_size, "failure": failure},
            out_dir / f"rank{dist.rank}.pt",
        )
        print(f"rank {dist.rank}/{dist.world_size} ({dist.backend}): {state.global_step} steps, "
              f"data versions {refresh.versions}, {len(predictions)} predictions", flush=True)


def _failure_seen_by(dist) -> str:
    """What each rank sees when the rank-0 part of ``run_on_main`` fails (rather than hanging at a barrier)."""

    def refresh_that_fails():
        raise SsalError("pseudo-label database is corrupt", "run/database.pkl")

    try:
        dist.run_on_main(refresh_that_fails)
    except SsalError as error:
        return str(error)
    return "no error"


class _RankFilter(logging.Filter):
    def __init__(self, rank):
        super().__init__()
        self.rank = rank

    def filter(self, record):
        record.rank = self.rank
        return True


if __name__ == "__main__":
    main(Path(sys.argv[1]))
