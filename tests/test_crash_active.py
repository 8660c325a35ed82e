"""Active-learning rounds that fail honestly: human requests priced so they cannot swallow the pool, rounds that
buy nothing say why, saved outputs of another round are refused, every input is checked before inference, and
the cascade fusion works in bounded chunks of box pairs."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ssal.active import Ledger, PoolOutputs
from ssal.active.annotation import request_labels
from ssal.active.budget import Budget
from ssal.active.config import CalConfig
from ssal.active.oracle import SimulatedOracle
from ssal.active.simulated_outputs import simulated_outputs
from ssal.active.strategies.cascade import fuse, pair_chunks
from ssal.active.workflow import check_outputs_round
from ssal.cli import main
from ssal.config import load_config
from ssal.errors import SsalError, SsalWarning
from ssal.models import build_detector

TINY = Path(__file__).resolve().parents[1] / "configs" / "synthetic" / "tiny.yaml"


def ranking(frame_ids, expected):
    n = len(frame_ids)
    return SimpleNamespace(frame_ids=list(frame_ids), expected_cost=np.asarray(expected, dtype=float),
                           uncertainty=np.linspace(1, 0, n), strategy="entropy", seed=0)


def test_a_human_round_on_sparse_predictions_requests_at_most_the_budget_and_warns():
    pool = [f"{i:06d}" for i in range(295)]
    ledger = Ledger.create("kitti", "train", ["Car"], pool, mode="human")
    ledger.add_round(_initial(ledger, pool))
    unlabelled = ledger.unlabelled
    with pytest.warns(SsalWarning, match="too sparse to price"):
        item = request_labels(ranking(unlabelled, np.zeros(len(unlabelled))), ledger, Budget(150, "boxes"))
    assert len(item.frames) == 150 and sum(item.expected_costs) == 150
    assert any("too sparse" in note for note in item.notes)


def _initial(ledger, pool):
    from ssal.active.ledger import Round

    return Round(index=0, kind="initial", strategy="random", seed=0, budget=Budget(5, "frames"),
                 overshoot="stop_before", frames=pool[:5], boxes=[[1]] * 5)


def test_a_round_that_buys_nothing_warns_and_records_why():
    pool = ["a", "b", "c", "d"]
    ledger = Ledger.create("kitti", "train", ["Car"], pool)
    oracle = SimulatedOracle(["Car"], {"a": [20], "b": [1], "c": [1], "d": [1]})
    ledger.add_round(oracle.purchase(["d"], ledger, Budget(1, "boxes"), kind="initial", strategy="random"))
    with pytest.warns(SsalWarning, match="bought nothing: the first-ranked frame a alone costs 20 boxes"):
        item = oracle.buy(["a", "b", "c"], ledger, Budget(10, "boxes"), seed=0)
    assert item.frames == [] and any("bought nothing" in note for note in item.notes)


def outputs_with(info, n=4):
    fake = simulated_outputs(n, np.random.default_rng(0))
    return PoolOutputs(fake.frame_ids, fake.offsets, fake.arrays, fake.classes, info)


def test_saved_outputs_of_another_round_or_checkpoint_are_refused():
    with pytest.raises(SsalError, match="made for round 1, but the ledger's next round is 2"):
        check_outputs_round(outputs_with({"ledger_round": 1, "checkpoint_sha256": "ab" * 32}), 2)
    with pytest.raises(SsalError, match="made by another checkpoint"):
        check_outputs_round(outputs_with({"ledger_round": 2, "checkpoint_sha256": "ab" * 32}), 2, "cd" * 32)
    check_outputs_round(outputs_with({"ledger_round": 2, "checkpoint_sha256": "ab" * 32}), 2, "ab" * 32)
    check_outputs_round(outputs_with({}), 2, "cd" * 32)  # made elsewhere: nothing to check


def test_cascade_fusion_in_chunks_of_pairs_equals_one_chunk():
    own = simulated_outputs(40, np.random.default_rng(1), boxes_per_frame=30)
    partner = simulated_outputs(40, np.random.default_rng(2), boxes_per_frame=30)
    positions = np.arange(40)
    whole = fuse(own, positions, partner, positions, CalConfig(), max_pairs=10**9)
    chunked = fuse(own, positions, partner, positions, CalConfig(), max_pairs=2000)
    for name in ("offsets", "boxes", "scores", "labels", "reliable", "from_partner"):
        assert np.array_equal(getattr(whole, name), getattr(chunked, name)), name
    pairs = np.diff(own.offsets) * np.diff(partner.offsets)
    chunks = pair_chunks(pairs, 2000)
    assert len(chunks) > 10 and chunks[0][0] == 0 and chunks[-1][1] == 40
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    assert all(pairs[start:stop].sum() <= 2000 or stop - start == 1 for start, stop in chunks)


# ----------------------------------------------------------------------------------- ssal query, end to end
def ssal(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def query_setup(kitti_sample, tmp_path_factory):
    """A ledger on kitti_sample (5 train frames) and an untrained tiny detector's checkpoint."""
    root = tmp_path_factory.mktemp("query")
    config_path = root / "run.yaml"
    config_path.write_text(f"_base_: {TINY}\ndata:\n  root: {kitti_sample}\n")
    assert ssal("ledger", "init", "--config", config_path, "--budget", 5, "--out", root / "ledger.json") == 0
    config = load_config(config_path)
    from ssal.engine.checkpoint import FORMAT_VERSION, config_fingerprint

    model = build_detector(config.model, seed=0)
    torch.save({"format_version": FORMAT_VERSION, "model_name": config.model.name,
                "config_fingerprint": config_fingerprint(config.model), "model_state": model.state_dict()},
               root / "model.pth")
    return root, config_path


def test_a_truncated_partner_checkpoint_is_found_before_any_inference(query_setup, tmp_path, capsys):
    root, config_path = query_setup
    data = (root / "model.pth").read_bytes()
    (tmp_path / "partner.pth").write_bytes(data[: len(data) // 2])
    ledger_before = (root / "ledger.json").read_bytes()
    code = ssal("query", "--config", config_path, "--ledger", root / "ledger.json", "--ckpt", root / "model.pth",
                "--partner-ckpt", tmp_path / "partner.pth", "--strategy", "cal", "--budget", 3, "--out",
                tmp_path / "q")
    error = capsys.readouterr().err
    assert code == 1 and error.count("\n") == 1
    assert error.startswith(f"error: {tmp_path / 'partner.pth'}: not a readable checkpoint (truncated")
    assert "miniz" not in error
    assert not (tmp_path / "q" / "pool_outputs").exists() and not (tmp_path / "q" / "pool_outputs.partial").exists()
    assert (root / "ledger.json").read_bytes() == ledger_before


def test_query_names_each_model_and_stores_its_round_then_refuses_the_outputs_later(
        query_setup, tmp_path, capsys, monkeypatch):
    import ssal.active.pool_inference as pool_inference

    bars = []
    real_tqdm = pool_inference.tqdm
    monkeypatch.setattr(pool_inference, "tqdm", lambda *a, **k: bars.append(k.get("desc")) or real_tqdm(*a, **k))
    root, config_path = query_setup
    ledger = tmp_path / "ledger.json"
    ledger.write_bytes((root / "ledger.json").read_bytes())
    round_index = len(Ledger.load(ledger).rounds)
    assert ssal("query", "--config", config_path, "--ledger", ledger, "--ckpt", root / "model.pth",
                "--partner-ckpt", root / "model.pth", "--strategy", "cal", "--budget", 3, "--out",
                tmp_path / "q") == 0
    assert bars == ["pool inference, own model", "pool inference, partner model"]
    info = PoolOutputs.open(tmp_path / "q" / "pool_outputs").info
    assert info["ledger_round"] == round_index
    assert info["checkpoint_sha256"] == hashlib.sha256((root / "model.pth").read_bytes()).hexdigest()
    capsys.readouterr()
    code = ssal("query", "--config", config_path, "--ledger", ledger, "--outputs", tmp_path / "q" / "pool_outputs",
                "--strategy", "cal", "--budget", 3, "--out", tmp_path / "q2")
    error = capsys.readouterr().err
    assert code == 1 and f"made for round {round_index}, but the ledger's next round is {round_index + 1}" in error


def test_cal_without_a_partner_says_it_runs_without_the_cascade(query_setup, tmp_path, capsys):
    root, config_path = query_setup
    ledger = tmp_path / "ledger.json"
    ledger.write_bytes((root / "ledger.json").read_bytes())
    assert ssal("query", "--config", config_path, "--ledger", ledger, "--ckpt", root / "model.pth",
                "--strategy", "cal", "--budget", 3, "--out", tmp_path / "q") == 0
    assert "runs without the model cascade" in capsys.readouterr().err


def test_query_and_import_labels_refuse_a_ledger_in_use(query_setup, tmp_path, capsys):
    from ssal.run_lock import RunLock

    root, config_path = query_setup
    with RunLock.beside(root / "ledger.json", "ssal query"):
        assert ssal("import-labels", "--ledger", root / "ledger.json", "--labels", tmp_path) == 1
        assert ssal("query", "--config", config_path, "--ledger", root / "ledger.json", "--ckpt",
                    root / "model.pth", "--strategy", "entropy", "--out", tmp_path / "q") == 1
    error = capsys.readouterr().err
    assert error.count(f"error: {root / 'ledger.json'}: in use by ssal query (PID") == 2
