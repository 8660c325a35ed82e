"""Distributed training and inference: real two-process ``torchrun`` jobs on CPU (gloo): refresh, checkpoints and
metrics on rank 0, sharded inference, errors on one rank; and, with a model without BatchNorm or Dropout, the same
parameters as a single process at the same global batch, and exact resume of a two-rank run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers.engine_toys import ToyDataset, ToyModel, toy_collate
from ssal.engine import DistContext, init_distributed, predict
from ssal.errors import SsalError

SCRIPT = Path(__file__).parent / "helpers" / "engine_dist.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Runs ``torchrun --nproc_per_node=2 tests/helpers/engine_dist.py OUT`` once; returns both ranks' results."""
    out = tmp_path_factory.mktemp("ddp")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", str(SCRIPT), str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, [torch.load(out / f"rank{rank}.pt", weights_only=False) for rank in range(2)], done


def test_ranks_train_on_the_same_refreshed_data_and_end_with_identical_parameters(two_ranks):
    _, ranks, _ = two_ranks
    assert ranks[0]["world_size"] == 2
    assert ranks[0]["steps"] == ranks[1]["steps"] == 4 * 5  # 40 frames / 2 ranks / batch 4, 4 epochs
    assert ranks[0]["versions"] == ranks[1]["versions"] == [0, 0, 1, 1]  # rank 0 refreshed at epoch 2
    for name, tensor in ranks[0]["state"].items():
        assert torch.equal(tensor, ranks[1]["state"][name]), name


def test_only_rank_0_writes_checkpoints_and_metrics(two_ranks):
    out, _, done = two_ranks
    lines = (out / "run" / "metrics.jsonl").read_text().splitlines()
    assert sum('"kind": "epoch"' in line for line in lines) == 4
    assert sorted(p.name for p in (out / "run" / "ckpt").iterdir()) == [
        "checkpoint_epoch_2.pth", "checkpoint_epoch_4.pth", "latest.pth"
    ]
    assert done.stderr.count("training 40 frames") == 1  # the plan is logged once, by rank 0


def test_sharded_inference_equals_single_process_inference(two_ranks):
    _, ranks, _ = two_ranks
    model = ToyModel()
    model.load_state_dict(ranks[0]["state"])
    expected = predict(model, ToyDataset(11), collate_fn=toy_collate, batch_size=3)
    for gathered in (ranks[0]["predictions"], ranks[1]["predictions"], ranks[0]["on_main"]):
        assert [p["index"] for p in gathered] == list(range(11))
        assert all(torch.allclose(a["pred"], b["pred"], atol=1e-6) for a, b in zip(gathered, expected))
    assert ranks[1]["on_main"] is None  # by default (gather="main") the other ranks hold no copy


def test_an_error_on_rank_0_reaches_every_rank_instead_of_a_hang(two_ranks):
    _, ranks, _ = two_ranks
    assert ranks[0]["failure"] == ranks[1]["failure"] == "run/database.pkl: pseudo-label database is corrupt"


def test_without_torchrun_the_context_is_a_single_process(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    context = init_distributed(device="cpu")
    assert (context.rank, context.world_size, context.is_main, context.is_distributed) == (0, 1, True, False)
    assert context.all_gather_object({"a": 1}) == [{"a": 1}] and context.gather_object(3) == [3]
    assert context.run_on_main(lambda x: x + 1, 1) == 2 and context.mean_over_ranks({"loss": 2.0}) == {"loss": 2.0}
    model = torch.nn.Linear(1, 1)
    assert context.wrap_model(model) is model
    context.barrier()


@pytest.mark.parametrize(
    ("env", "where"),
    [
        ({"WORLD_SIZE": "two"}, "environment variable WORLD_SIZE"),
        ({"WORLD_SIZE": "2"}, "environment variable RANK"),
        ({"WORLD_SIZE": "2", "RANK": "-1"}, "environment variable RANK"),
        ({"WORLD_SIZE": "2", "RANK": "1"}, "environment variable MASTER_ADDR"),
        ({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, "environment"),
    ],
)
def test_a_broken_launch_environment_is_a_one_line_error(monkeypatch, env, where):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SsalError) as error:
        init_distributed(device="cpu")
    assert error.value.where == where


def test_single_context_picks_the_requested_device():
    assert DistContext.single("cpu").device == torch.device("cpu")


# ------------------------------------------------------------------------ parity with a single process
PARITY = Path(__file__).parent / "helpers" / "engine_parity.py"


@pytest.fixture(scope="module")
def parity_ranks(tmp_path_factory):
    """``torchrun --nproc_per_node=2 tests/helpers/engine_parity.py OUT``: both ranks' final parameters."""
    out = tmp_path_factory.mktemp("parity")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", str(PARITY), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return [torch.load(out / f"rank{rank}.pt", weights_only=False) for rank in range(2)]


def test_two_ranks_train_as_one_process_at_the_same_global_batch(parity_ranks, tmp_path):
    from dataclasses import replace

    from helpers.engine_parity import CONFIG, PER_RANK_BATCH, make_trainer

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = make_trainer(tmp_path / "single", None, replace(CONFIG, batch_size=2 * PER_RANK_BATCH))
        state = single.train()
    finally:
        torch.set_num_threads(before)
    assert parity_ranks[0]["world_size"] == 2
    assert parity_ranks[0]["steps"][0] == state.global_step == 4 * 40 // 8  # the same number of optimiser steps
    for name, tensor in single.model.state_dict().items():
        # DDP averages the two half-batch gradients: the mean over the global batch, up to float rounding
        torch.testing.assert_close(parity_ranks[0]["whole"][name], tensor, rtol=1e-4, atol=1e-5)
        assert torch.equal(parity_ranks[0]["whole"][name], parity_ranks[1]["whole"][name])
    untrained = make_trainer(tmp_path / "untrained", None).model.state_dict()
    assert any(not torch.allclose(untrained[name], tensor, atol=1e-3)  # training did move the weights
               for name, tensor in single.model.state_dict().items())


def test_a_resumed_two_rank_run_ends_bit_identical_to_an_uninterrupted_one(parity_ranks):
    for rank in parity_ranks:
        assert rank["steps"][0] == rank["steps"][1]
        for name, tensor in rank["whole"].items():
            assert torch.equal(tensor, rank["resumed"][name]), name
