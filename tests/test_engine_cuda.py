"""The training engine on CUDA: the precision ``amp=auto`` picks, training in fp32 / bf16 / fp16 with exact resume
(an interrupted and resumed run ends bit-identical to an uninterrupted one, with ``deterministic=True``), the
fp16 loss scaler's state in checkpoints, predictions handed back on the CPU, and the error for more local ranks
than GPUs. Every test here needs a CUDA device and skips without one (the only skip CI allows)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers.engine_toys import TOY_MODEL_CONFIG, ToyDataset, ToyModel, toy_collate
from ssal.engine import Hook, TrainConfig, Trainer, default_hooks, init_distributed, predict
from ssal.engine.checkpoint import read_checkpoint
from ssal.engine.seeding import seed_everything
from ssal.errors import SsalError

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


class Stop(Exception):
    pass


class StopAfter(Hook):
    """Interrupts training after ``epochs`` epochs (their checkpoint is written first)."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def after_epoch(self, trainer):
        if trainer.state.completed_epochs == self.epochs:
            raise Stop


def make_trainer(run_dir: Path, amp: str, hooks=None, model_seed: int = 7) -> Trainer:
    config = TrainConfig(epochs=4, batch_size=8, workers=2, amp=amp, seed=3, log_interval=2, ckpt_interval=2,
                         deterministic=True)
    seed_everything(model_seed)
    return Trainer(ToyModel(), ToyDataset(48, seed=3), config, run_dir, model_name="toy",
                   model_config=TOY_MODEL_CONFIG, collate_fn=toy_collate,
                   hooks=default_hooks(config) if hooks is None else hooks)


def test_amp_auto_takes_bf16_where_the_gpu_has_it_else_fp16(tmp_path):
    trainer = make_trainer(tmp_path, "auto", hooks=[])
    assert trainer.precision.name == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    assert next(trainer.model.parameters()).device.type == "cuda"


@pytest.mark.parametrize("amp", ["off", "bf16", "fp16"])
def test_a_resumed_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path, amp):
    if amp == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("needs CUDA with bf16")
    whole = make_trainer(tmp_path / "whole", amp)
    whole.train()
    stopped = make_trainer(tmp_path / "split", amp, hooks=[*default_hooks(whole.config), StopAfter(2)])
    with pytest.raises(Stop):
        stopped.train()
    resumed = make_trainer(tmp_path / "split", amp, model_seed=99)  # other initial weights: the checkpoint wins
    resumed.train(resume=True)
    assert resumed.state.completed_epochs == whole.state.completed_epochs == 4
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    if amp == "fp16":  # the loss scaler continues from its saved state, not from a fresh scale
        state = read_checkpoint(tmp_path / "split" / "ckpt" / "latest.pth")
        assert state["scaler_state"].get("scale") is not None


def test_predictions_come_back_on_the_cpu_in_dataset_order(tmp_path):
    model = make_trainer(tmp_path, "off", hooks=[]).model
    results = predict(model, ToyDataset(5), collate_fn=toy_collate, batch_size=2, progress=False)
    assert [r["index"] for r in results] == list(range(5))
    assert all(r["pred"].device.type == "cpu" for r in results)


def test_more_local_ranks_than_gpus_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", str(torch.cuda.device_count()))
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29555")
    with pytest.raises(SsalError, match="needs a GPU of its own"):
        init_distributed()
