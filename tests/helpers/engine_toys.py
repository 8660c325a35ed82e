"""A toy dataset and model that follow the engine's contracts, for the engine tests.

* ``ToyDataset``: item ``i`` of epoch ``e`` is a fixed point plus augmentation (noise, a random sign flip) drawn
  from ``item_rng(seed, e, i)``; ``set_epoch`` selects the epoch; ``version`` is a stand-in for a database that a
  hook may refresh (it shifts the targets).
* ``ToyModel``: Linear -> BatchNorm -> ReLU -> Dropout -> Linear (``plain``: Linear -> ReLU -> Linear). Train mode
  returns ``(loss, logs)``, eval mode a list with one dict per frame.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ssal.engine.seeding import item_rng

FEATURES = 4


class ToyDataset(torch.utils.data.Dataset):
    def __init__(self, length: int = 48, seed: int = 0):
        base = np.random.default_rng(12345)
        self.points = base.normal(size=(length, FEATURES)).astype(np.float32)
        self.targets = (self.points @ np.arange(1, FEATURES + 1, dtype=np.float32))[:, None]
        self.seed = seed
        self.epoch = 0
        self.version = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index: int) -> dict:
        rng = item_rng(self.seed, self.epoch, index)
        sign = rng.choice([-1.0, 1.0])
        x = sign * self.points[index] + rng.normal(scale=0.05, size=FEATURES).astype(np.float32)
        y = sign * self.targets[index] + self.version
        return {"x": torch.as_tensor(x, dtype=torch.float32), "y": torch.as_tensor(y, dtype=torch.float32),
                "index": index}


def toy_collate(items: list[dict]) -> dict:
    return {
        "x": torch.stack([item["x"] for item in items]),
        "y": torch.stack([item["y"] for item in items]),
        "index": torch.tensor([item["index"] for item in items]),
        "batch_size": len(items),
    }


class ToyModel(nn.Module):
    """``plain=True`` leaves out BatchNorm and Dropout, whose per-rank statistics and masks make a DDP run differ
    from a single-process one by design; what remains must train the same at the same global batch."""

    def __init__(self, hidden: int = 16, plain: bool = False):
        super().__init__()
        middle = [nn.ReLU()] if plain else [nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(0.2)]
        self.net = nn.Sequential(nn.Linear(FEATURES, hidden), *middle, nn.Linear(hidden, 1))

    def forward(self, batch: dict):
        prediction = self.net(batch["x"])
        if self.training:
            mse = torch.mean((prediction - batch["y"]) ** 2)
            l1 = torch.mean(torch.abs(prediction - batch["y"]))
            return mse + 0.1 * l1, {"loss_mse": mse, "loss_l1": l1}
        return [{"pred": p, "index": int(i)} for p, i in zip(prediction, batch["index"])]


TOY_MODEL_CONFIG = {"name": "toy", "hidden": 16}
