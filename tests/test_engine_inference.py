"""Inference over a dataset: one result per item, in dataset order, whatever the batching."""

from __future__ import annotations

import pytest
import torch

from helpers.engine_toys import ToyDataset, ToyModel, toy_collate
from ssal.engine import predict, to_device


def test_results_come_back_in_dataset_order_for_any_batch_size_and_workers():
    torch.manual_seed(0)
    model = ToyModel()
    one_by_one = predict(model, ToyDataset(10), collate_fn=toy_collate, batch_size=1)
    batched = predict(model, ToyDataset(10), collate_fn=toy_collate, batch_size=4, workers=2)
    assert [r["index"] for r in one_by_one] == [r["index"] for r in batched] == list(range(10))
    assert all(torch.allclose(a["pred"], b["pred"], atol=1e-6) for a, b in zip(one_by_one, batched))


def test_the_model_mode_is_restored_and_no_gradients_are_kept():
    model = ToyModel().train()
    results = predict(model, ToyDataset(3), collate_fn=toy_collate)
    assert model.training and not results[0]["pred"].requires_grad


def test_a_model_that_drops_frames_is_caught():
    class DropsOne(ToyModel):
        def forward(self, batch):
            return super().forward(batch)[:-1]

    with pytest.raises(ValueError, match="returned 1 results for a batch of 2 frames"):
        predict(DropsOne(), ToyDataset(4), collate_fn=toy_collate, batch_size=2)


def test_to_device_walks_nested_batches_and_leaves_other_values():
    batch = {"points": torch.ones(2), "ids": ["a", "b"], "boxes": [torch.zeros(1)], "batch_size": 2}
    moved = to_device(batch, "cpu")
    assert moved["points"] is batch["points"] and moved["ids"] == ["a", "b"] and moved["batch_size"] == 2
    assert isinstance(moved["boxes"], list) and torch.equal(moved["boxes"][0], torch.zeros(1))
