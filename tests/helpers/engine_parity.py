"""Two-rank runs of the plain toy model for the parity tests (``test_engine_distributed``)::

    torchrun --nproc_per_node=2 tests/helpers/engine_parity.py OUT_DIR

In one job: an uninterrupted run (``OUT_DIR/whole``), a run stopped after epoch 2 (``OUT_DIR/split``), and that
run resumed from its checkpoint by a new trainer whose model starts from other weights. Each rank writes
``OUT_DIR/rank<r>.pt`` with the final parameters of the whole and the resumed run and their step counts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.engine_toys import TOY_MODEL_CONFIG, ToyDataset, ToyModel, toy_collate  # noqa: E402
from ssal.engine import Hook, TrainConfig, Trainer, default_hooks, distributed_session  # noqa: E402
from ssal.engine.seeding import seed_everything  # noqa: E402

PER_RANK_BATCH = 4  # a single process at batch 8 is the same global batch
CONFIG = TrainConfig(epochs=4, batch_size=PER_RANK_BATCH, workers=0, seed=5, lr=0.01, log_interval=5,
                     ckpt_interval=1)
FRAMES = 40


class Stop(Exception):
    pass


class StopAfter(Hook):
    def __init__(self, epochs: int):
        self.epochs = epochs

    def after_epoch(self, trainer):
        if trainer.state.completed_epochs == self.epochs:
            raise Stop


def make_trainer(run_dir: Path, dist, config: TrainConfig = CONFIG, model_seed: int = 5, hooks=None) -> Trainer:
    seed_everything(model_seed)
    return Trainer(ToyModel(plain=True), ToyDataset(FRAMES, seed=config.seed), config, run_dir, model_name="toy",
                   model_config=TOY_MODEL_CONFIG, collate_fn=toy_collate,
                   hooks=default_hooks(config) if hooks is None else hooks, dist=dist)


def main(out_dir: Path) -> None:
    torch.set_num_threads(1)  # two ranks share the cores
    with distributed_session(device="cpu", timeout_s=120) as dist:
        whole = make_trainer(out_dir / "whole", dist)
        whole_state = whole.train()
        stopped = make_trainer(out_dir / "split", dist, hooks=[*default_hooks(CONFIG), StopAfter(2)])
        try:
            stopped.train()
        except Stop:
            pass
        resumed = make_trainer(out_dir / "split", dist, model_seed=99)
        resumed_state = resumed.train(resume=True)
        torch.save({"whole": whole.model.state_dict(), "resumed": resumed.model.state_dict(),
                    "steps": (whole_state.global_step, resumed_state.global_step), "world_size": dist.world_size},
                   out_dir / f"rank{dist.rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
