"""The training loop: exact resume, hooks, metrics, checkpoints and what a resume refuses."""

from __future__ import annotations

import io
import json
import logging

import pytest
import torch

from helpers.engine_toys import TOY_MODEL_CONFIG, ToyDataset, ToyModel, toy_collate
from ssal.engine import Hook, ProgressHook, TrainConfig, Trainer, default_hooks, seed_everything
from ssal.engine.checkpoint import list_epoch_checkpoints, read_checkpoint
from ssal.errors import SsalError


def make_trainer(run_dir, config, hooks=None, model_config=TOY_MODEL_CONFIG, model_seed=7, dataset_length=48):
    seed_everything(model_seed)
    model = ToyModel()
    return Trainer(
        model,
        ToyDataset(dataset_length, seed=config.seed),
        config,
        run_dir,
        model_name="toy",
        model_config=model_config,
        collate_fn=toy_collate,
        hooks=hooks,
    )


def small_config(**overrides):
    values = dict(epochs=4, batch_size=8, workers=0, lr=0.01, ckpt_interval=2, keep_last=5, seed=3, log_interval=2)
    values.update(overrides)
    return TrainConfig(**values)


class Interrupt(Exception):
    pass


class StopAfterEpochs(Hook):
    """Simulates a killed run: raises after ``n`` epochs (after the checkpoint hook has written)."""

    def __init__(self, n):
        self.n = n

    def after_epoch(self, trainer):
        if trainer.state.completed_epochs == self.n:
            raise Interrupt


def test_resumed_run_ends_with_bit_identical_weights(tmp_path):
    config = small_config(workers=2)
    uninterrupted = make_trainer(tmp_path / "a", config)
    uninterrupted.train()

    interrupted = make_trainer(tmp_path / "b", config, hooks=[*default_hooks(config), StopAfterEpochs(2)])
    with pytest.raises(Interrupt):
        interrupted.train()
    # A new process would build everything again; a different initial seed proves the weights come from disk.
    resumed = make_trainer(tmp_path / "b", config, model_seed=99)
    state = resumed.train(resume=True)

    assert state.resumed_from == tmp_path / "b" / "ckpt" / "latest.pth"
    assert state.global_step == uninterrupted.state.global_step == 4 * 6
    for (name, expected), actual in zip(uninterrupted.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(expected, actual), name
    expected_adam = uninterrupted.optimizer.state_dict()["state"]
    actual_adam = resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(expected_adam[k]["exp_avg_sq"], actual_adam[k]["exp_avg_sq"]) for k in expected_adam)


def test_metrics_of_a_resumed_run_read_like_one_run(tmp_path):
    config = small_config()
    make_trainer(tmp_path / "a", config).train()
    with pytest.raises(Interrupt):
        make_trainer(tmp_path / "b", config, hooks=[*default_hooks(config), StopAfterEpochs(2)]).train()
    # The killed run got one step line into epoch 3 that the resumed run will write again.
    (tmp_path / "b" / "metrics.jsonl").open("a").write('{"kind": "step", "step": 14, "epoch": 3}\n{"kind": "st')
    make_trainer(tmp_path / "b", config).train(resume=True)

    def summary(path):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        return [(r["kind"], r["step"], r["epoch"], round(r["loss"], 6)) for r in records]

    assert summary(tmp_path / "b" / "metrics.jsonl") == summary(tmp_path / "a" / "metrics.jsonl")
    records = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    step_line, epoch_line = records[0], next(r for r in records if r["kind"] == "epoch")
    assert step_line["step"] == 2 and step_line["epoch"] == 1
    assert {"lr", "beta1", "loss", "loss_mse", "loss_l1", "grad_norm", "frames_per_s", "time"} <= step_line.keys()
    assert epoch_line["epoch"] == 1 and epoch_line["step"] == 6 and epoch_line["seconds"] > 0
    assert len([r for r in records if r["kind"] == "epoch"]) == 4


def test_checkpoints_every_interval_keep_the_newest_and_latest_follows_every_epoch(tmp_path):
    config = small_config(epochs=5, ckpt_interval=2, keep_last=2)
    make_trainer(tmp_path, config).train()
    # every 2 epochs (2, 4) plus the last (5); keep_last=2 removes epoch 2
    assert [epoch for epoch, _ in list_epoch_checkpoints(tmp_path)] == [4, 5]
    latest = read_checkpoint(tmp_path / "ckpt" / "latest.pth")
    assert latest["epoch"] == 5 and latest["global_step"] == 30
    assert latest["model_name"] == "toy" and latest["train_config"]["epochs"] == 5
    assert not [p for p in (tmp_path / "ckpt").iterdir() if p.name.startswith(".")]  # no temp files left


def test_resume_with_another_model_config_names_both(tmp_path):
    config = small_config(epochs=1)
    make_trainer(tmp_path, config).train()
    other = dict(TOY_MODEL_CONFIG, hidden=32)
    with pytest.raises(SsalError) as error:
        make_trainer(tmp_path, config, model_config=other).train(resume=True)
    message = str(error.value)
    assert message.startswith(str(tmp_path / "ckpt" / "latest.pth"))
    assert message.count("'toy' with config fingerprint") == 2  # what the file holds and what was expected


def test_resume_refuses_a_changed_schedule_but_not_a_changed_worker_count(tmp_path):
    make_trainer(tmp_path, small_config(epochs=2)).train()
    with pytest.raises(SsalError, match=r"train\.epochs=2 but this run has train\.epochs=3"):
        make_trainer(tmp_path, small_config(epochs=3)).train(resume=True)
    with pytest.raises(SsalError, match="training set changed size"):
        make_trainer(tmp_path, small_config(epochs=2), dataset_length=64).train(resume=True)
    state = make_trainer(tmp_path, small_config(epochs=2, workers=1)).train(resume=True)
    assert state.completed_epochs == 2  # nothing left to do


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path):
    state = make_trainer(tmp_path, small_config(epochs=1)).train(resume=True)
    assert state.resumed_from is None and state.global_step == 6


class Recorder(Hook):
    """Records the calls a hook receives, with the state it sees."""

    def __init__(self):
        self.calls = []

    def before_train(self, trainer):
        self.calls.append(("before_train", trainer.state.completed_epochs))

    def before_epoch(self, trainer):
        self.calls.append(("before_epoch", trainer.state.epoch, trainer.dataset.epoch, trainer.model.training))

    def after_step(self, trainer):
        if trainer.state.global_step % 6 == 0:
            self.calls.append(("after_step", trainer.state.global_step, round(trainer.state.last.lr, 6)))

    def after_epoch(self, trainer):
        self.calls.append(("after_epoch", trainer.state.completed_epochs))

    def after_train(self, trainer):
        self.calls.append(("after_train", trainer.state.global_step))


def test_hooks_see_the_trainer_state_in_order(tmp_path):
    recorder = Recorder()
    trainer = make_trainer(tmp_path, small_config(epochs=2), hooks=[recorder])
    trainer.train()
    # state.last.lr is the rate the step was taken with: step index 5 is the 6th step
    lr_after_6, lr_after_12 = (round(trainer.schedule.values(i)[0], 6) for i in (5, 11))
    assert recorder.calls == [
        ("before_train", 0),
        ("before_epoch", 0, 0, True),
        ("after_step", 6, lr_after_6),
        ("after_epoch", 1),
        ("before_epoch", 1, 1, True),
        ("after_step", 12, lr_after_12),
        ("after_epoch", 2),
        ("after_train", 12),
    ]
    assert not (tmp_path / "ckpt").exists()  # hooks=[recorder] replaced the defaults


class RefreshDatabase(Hook):
    """A toy of CPSP's refresh: every 2 epochs, predict with the current model and bump the data version."""

    def __init__(self):
        self.refreshed_at = []

    def before_epoch(self, trainer):
        if trainer.state.epoch > 0 and trainer.state.epoch % 2 == 0:
            from ssal.engine import predict

            predictions = predict(trainer.model, trainer.dataset, collate_fn=toy_collate, batch_size=16)
            assert len(predictions) == len(trainer.dataset) and trainer.model.training  # mode restored
            trainer.dataset.version += 1
            self.refreshed_at.append(trainer.state.epoch)


def test_a_refresh_hook_changes_the_data_from_that_epoch_on(tmp_path):
    refresh = RefreshDatabase()
    trainer = make_trainer(tmp_path, small_config(epochs=5), hooks=[refresh])
    trainer.train()
    assert refresh.refreshed_at == [2, 4] and trainer.dataset.version == 2


def test_tensorboard_missing_is_one_info_line(tmp_path, caplog, monkeypatch):
    import ssal.engine.metrics as metrics

    monkeypatch.setattr(metrics, "summary_writer_class", lambda: None)
    with caplog.at_level(logging.INFO, logger="ssal.engine"):
        make_trainer(tmp_path, small_config(epochs=1)).train()
    assert [r.message for r in caplog.records if "TensorBoard" in r.message] == [
        "TensorBoard is not installed (pip install 'ssal[tb]'); skipping TensorBoard scalars"
    ]
    assert (tmp_path / "metrics.jsonl").exists() and not (tmp_path / "tensorboard").exists()


def test_tensorboard_gets_the_same_scalars_when_installed(tmp_path, monkeypatch):
    import ssal.engine.metrics as metrics

    written = []

    class FakeSummaryWriter:
        def __init__(self, log_dir):
            self.log_dir = log_dir

        def add_scalar(self, tag, value, step):
            written.append((tag, step))

        def close(self):
            written.append(("closed", None))

    monkeypatch.setattr(metrics, "summary_writer_class", lambda: FakeSummaryWriter)
    make_trainer(tmp_path, small_config(epochs=1)).train()
    assert ("train/loss", 2) in written and ("train/lr", 6) in written and ("epoch/loss", 1) in written
    assert written[-1] == ("closed", None)


class PoisonOnce(Hook):
    """Makes the gradients of one step non-finite, as an overflow or a bad frame would."""

    def __init__(self, at_step):
        self.at_step = at_step
        self.handle = None

    def after_step(self, trainer):
        if trainer.state.global_step == self.at_step - 1:
            weight = trainer.model.net[0].weight
            self.handle = weight.register_hook(lambda grad: grad * float("inf"))
        elif self.handle is not None:
            self.handle.remove()
            self.handle = None


def test_a_step_with_non_finite_gradients_is_skipped(tmp_path):
    trainer = make_trainer(tmp_path, small_config(epochs=1), hooks=[PoisonOnce(at_step=3)])
    state = trainer.train()
    assert state.skipped_steps == 1 and state.global_step == 6
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_a_dataset_without_set_epoch_is_rejected(tmp_path):
    class NoEpochs(torch.utils.data.Dataset):
        def __len__(self):
            return 4

    with pytest.raises(TypeError, match="set_epoch"):
        Trainer(ToyModel(), NoEpochs(), small_config(), tmp_path, model_name="toy", model_config={})


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_the_progress_bar_shows_epoch_loss_rate_and_eta_on_a_terminal_only(tmp_path):
    terminal, log_file = FakeTerminal(), io.StringIO()
    make_trainer(tmp_path / "a", small_config(epochs=2), hooks=[ProgressHook(terminal, refresh_s=0)]).train()
    make_trainer(tmp_path / "b", small_config(epochs=2), hooks=[ProgressHook(log_file)]).train()
    last = terminal.getvalue().split("\r")[-1]
    assert last.startswith("epoch 2/2: 100%") and "12/12 [" in last and "step/s" in last
    assert "<00:00" in last and "loss=" in last and "lr=" in last  # elapsed<remaining, then the postfix
    assert log_file.getvalue() == ""
