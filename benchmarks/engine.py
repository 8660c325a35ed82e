"""What the training engine costs on top of the model: a Trainer epoch (default hooks: metrics JSONL, checkpoint
after the epoch, progress hook) against a bare hand-written loop doing the same optimiser work, and an atomic
checkpoint write (temporary file + fsync + rename) against a plain ``torch.save``. Medians of ``--repeat`` runs,
measured in the same process, alternating, so the ratios hold on a noisy shared machine.

    OMP_NUM_THREADS=2 python benchmarks/engine.py [--repeat 5] [--steps 40]

Targets: Trainer epoch within 10 % of the bare loop for a model whose step takes ~20-50 ms. The atomic save costs
torch.save plus one fsync of the file (the price of never leaving a torn checkpoint): under 0.25 s for 100 MB,
once per epoch.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from ssal.engine import DistContext, TrainConfig, Trainer, build_optimizer, default_hooks, item_rng
from ssal.atomic import atomic_torch_save
from ssal.engine.optim import OneCycle


class ImageSet(torch.utils.data.Dataset):
    """BEV-like 4 x 96 x 96 inputs with a per-(epoch, item) random flip, as the data contract asks."""

    def __init__(self, length: int):
        self.length = length
        self.epoch = 0
        generator = torch.Generator().manual_seed(0)
        self.images = torch.randn(length, 4, 96, 96, generator=generator)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        flip = item_rng(0, self.epoch, index).random() < 0.5
        return self.images[index].flip(-1) if flip else self.images[index]


def collate(items: list[torch.Tensor]) -> dict:
    return {"image": torch.stack(items), "batch_size": len(items)}


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(4, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 4, 1),
        )

    def forward(self, batch: dict):
        output = self.body(batch["image"])
        loss = (output - batch["image"][:, :, ::2, ::2]).pow(2).mean()  # a target keeps weights away from 0
        return loss, {"loss_l2": loss}


def bare_epoch(model: nn.Module, dataset: ImageSet, config: TrainConfig) -> float:
    optimizer = build_optimizer(model, config)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, collate_fn=collate)
    schedule = OneCycle.from_config(config, total_steps=len(loader))
    start = time.perf_counter()
    for step, batch in enumerate(loader):
        schedule.apply(optimizer, step)
        loss, _ = model(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
        optimizer.step()
    return time.perf_counter() - start


def trainer_epoch(model: nn.Module, dataset: ImageSet, config: TrainConfig, run_dir: Path) -> float:
    trainer = Trainer(model, dataset, config, run_dir, model_name="convnet", model_config={"width": 64},
                      collate_fn=collate, hooks=default_hooks(config), dist=DistContext.single("cpu"))
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start


def save_times(state: dict, folder: Path) -> tuple[float, float]:
    start = time.perf_counter()
    torch.save(state, folder / "plain.pth")
    plain = time.perf_counter() - start
    start = time.perf_counter()
    atomic_torch_save(folder / "atomic.pth", state)
    return plain, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40, help="steps per epoch (batch 4)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    config = TrainConfig(epochs=1, batch_size=4, workers=0, log_interval=10, ckpt_interval=1)
    dataset = ImageSet(args.steps * config.batch_size)
    big_state = {"weights": torch.randn(25_000_000)}  # 100 MB, a PV-RCNN-sized checkpoint with Adam state
    bare, engine, plain, atomic = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeat):
            torch.manual_seed(repeat)
            bare.append(bare_epoch(ConvNet(), dataset, config))
            torch.manual_seed(repeat)
            engine.append(trainer_epoch(ConvNet(), dataset, config, Path(tmp) / f"run{repeat}"))
            p, a = save_times(big_state, Path(tmp))
            plain.append(p)
            atomic.append(a)
    rows = [
        ("bare loop, 1 epoch", f"{args.steps} steps", statistics.median(bare), statistics.median(bare)),
        ("Trainer + default hooks, 1 epoch", f"{args.steps} steps + ckpt", statistics.median(engine),
         statistics.median(bare)),
        ("torch.save", "100 MB", statistics.median(plain), statistics.median(plain)),
        ("atomic_torch_save (fsync + rename)", "100 MB", statistics.median(atomic), statistics.median(plain)),
    ]
    print(f"| what | size | median ms ({args.repeat} runs) | ratio of medians | min ms |")
    print("| --- | --- | --- | --- | --- |")
    minima = [min(bare), min(engine), min(plain), min(atomic)]
    for (what, size, value, reference), fastest in zip(rows, minima):
        ratio = value / reference if reference > 0 else math.nan
        print(f"| {what} | {size} | {value * 1e3:.0f} | {ratio:.2f} | {fastest * 1e3:.0f} |")


if __name__ == "__main__":
    main()
