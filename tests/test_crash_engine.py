"""What a kill leaves behind, and what a resume makes of it: no temporary files, every checkpoint that should be
there, a metrics log that reads like one uninterrupted run; a diverged run stops instead of skipping to the end."""

from __future__ import annotations

import errno
import json
import os

import pytest
import torch

from helpers.engine_toys import TOY_MODEL_CONFIG, ToyDataset, ToyModel, toy_collate
from ssal.engine import Hook, TrainConfig, Trainer, default_hooks, seed_everything
from ssal.engine.checkpoint import read_checkpoint
from ssal.errors import SsalError


class Killed(Exception):
    pass


class KillAfterEpoch(Hook):
    def __init__(self, epoch):
        self.epoch = epoch

    def after_epoch(self, trainer):
        if trainer.state.completed_epochs == self.epoch:
            raise Killed


class KillAtStep(Hook):
    def __init__(self, step):
        self.step = step

    def after_step(self, trainer):
        if trainer.state.global_step == self.step:
            raise Killed


def config(**overrides):
    values = dict(epochs=3, batch_size=8, workers=0, lr=0.01, ckpt_interval=1, keep_last=5, seed=3, log_interval=2)
    values.update(overrides)
    return TrainConfig(**values)


def trainer(run_dir, train_config, hooks=None, model=None):
    seed_everything(7)
    return Trainer(model or ToyModel(), ToyDataset(48, seed=train_config.seed), train_config, run_dir,
                   model_name="toy", model_config=TOY_MODEL_CONFIG, collate_fn=toy_collate, hooks=hooks)


def metric_lines(run_dir):
    keep = ("kind", "step", "epoch", "loss", "skipped_steps")
    return [{k: v for k, v in json.loads(line).items() if k in keep}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    run = tmp_path_factory.mktemp("straight")
    trainer(run, config()).train()
    return metric_lines(run)


@pytest.mark.parametrize("position", [0, 1, 2, 3])
def test_a_kill_between_any_two_end_of_epoch_hooks_resumes_to_the_same_metrics_and_checkpoints(
        tmp_path, straight, position):
    hooks = default_hooks(config())
    hooks.insert(position, KillAfterEpoch(2))
    with pytest.raises(Killed):
        trainer(tmp_path, config(), hooks).train()
    trainer(tmp_path, config()).train(resume=True)
    assert metric_lines(tmp_path) == straight
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "checkpoint_epoch_1.pth", "checkpoint_epoch_2.pth", "checkpoint_epoch_3.pth", "latest.pth"]


def test_a_kill_before_the_first_checkpoint_does_not_duplicate_metric_lines(tmp_path, straight):
    with pytest.raises(Killed):
        trainer(tmp_path, config(), [*default_hooks(config()), KillAtStep(5)]).train()
    trainer(tmp_path, config()).train(resume=True)  # nothing to resume from: starts again
    assert metric_lines(tmp_path) == straight


def test_resume_removes_temporary_files_and_rewrites_a_missing_epoch_checkpoint(tmp_path):
    with pytest.raises(Killed):
        trainer(tmp_path, config(), [*default_hooks(config()), KillAfterEpoch(2)]).train()
    # Killed while writing checkpoint_epoch_2.pth: latest.pth is complete, the epoch file is a temporary one.
    (tmp_path / "ckpt" / "checkpoint_epoch_2.pth").rename(tmp_path / "ckpt" / ".checkpoint_epoch_2.pth.x1y2.tmp")
    (tmp_path / ".metrics.jsonl.abcd.tmp").write_text("half")
    with pytest.raises(Killed):
        trainer(tmp_path, config(), [*default_hooks(config()), KillAtStep(13)]).train(resume=True)
    assert not list(tmp_path.rglob("*.tmp"))
    assert read_checkpoint(tmp_path / "ckpt" / "checkpoint_epoch_2.pth")["epoch"] == 2


class NanFrom(Hook):
    """From step ``step`` on, the model's output is NaN (a diverged run)."""

    def __init__(self, step):
        self.step = step

    def after_step(self, trainer):
        if trainer.state.global_step == self.step - 1:
            with torch.no_grad():
                trainer.model.net[4].bias.fill_(float("nan"))


def test_a_diverged_run_stops_with_one_line_naming_the_step_and_the_loss_terms(tmp_path):
    run = trainer(tmp_path, config(max_nonfinite_steps=3), [*default_hooks(config()), NanFrom(4)])
    with pytest.raises(SsalError) as error:
        run.train()
    message = str(error.value)
    assert "\n" not in message and "step 6" in message and "loss_mse" in message and "train.max_nonfinite_steps" \
        in message
    assert run.state.skipped_steps == 3
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert (lines[-1]["step"], lines[-1]["skipped_steps"]) == (4, 1)  # step 4 was the first skipped


class PoisonOnce(Hook):
    def __init__(self, at_step):
        self.at_step = at_step
        self.handle = None

    def after_step(self, trainer):
        if trainer.state.global_step == self.at_step - 1:
            self.handle = trainer.model.net[0].weight.register_hook(lambda grad: grad * float("inf"))
        elif self.handle is not None:
            self.handle.remove()
            self.handle = None


def test_skipped_steps_are_logged_checkpointed_and_restored(tmp_path):
    with pytest.raises(Killed):
        trainer(tmp_path, config(), [PoisonOnce(3), *default_hooks(config()), KillAfterEpoch(1)]).train()
    assert read_checkpoint(tmp_path / "ckpt" / "latest.pth")["skipped_steps"] == 1
    state = trainer(tmp_path, config()).train(resume=True)
    assert state.skipped_steps == 1
    assert metric_lines(tmp_path)[-1]["skipped_steps"] == 1


def test_a_finished_run_is_not_overwritten_without_resume_or_overwrite(tmp_path):
    from ssal.engine.run_folder import prepare_run_folder

    trainer(tmp_path, config(epochs=1)).train()
    with pytest.raises(SsalError) as error:
        prepare_run_folder(tmp_path, resume=False, overwrite=False)
    assert error.value.where == str(tmp_path) and "--resume" in str(error.value) and "--overwrite" in str(error.value)
    prepare_run_folder(tmp_path, resume=True, overwrite=False)  # resuming is fine
    prepare_run_folder(tmp_path, resume=False, overwrite=True)
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "metrics.jsonl").exists()
    prepare_run_folder(tmp_path, resume=False, overwrite=False)  # an empty folder is fine


@pytest.mark.parametrize(("code", "cause"), [(errno.ENOSPC, "No space left on device"),
                                             (errno.EACCES, "Permission denied"),
                                             (errno.EROFS, "Read-only file system")])
def test_a_full_disk_or_unwritable_folder_is_one_line_naming_the_file(tmp_path, monkeypatch, code, cause):
    import ssal.atomic

    def refuse(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(ssal.atomic.os, "fsync", refuse)
    with pytest.raises(SsalError) as error:
        trainer(tmp_path, config(epochs=1)).train()
    assert str(error.value) == f"{tmp_path / 'ckpt' / 'latest.pth'}: cannot write: {cause}"
    assert isinstance(error.value, OSError)  # code that tolerates unwritable places still catches it
    assert not list(tmp_path.rglob("*.tmp")) and not (tmp_path / "ckpt" / "latest.pth").exists()


def test_a_full_disk_while_logging_metrics_is_one_line(tmp_path, monkeypatch):
    from ssal.engine import metrics

    class FullFile:
        def __init__(self, *args, **kwargs):
            pass

        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def close(self):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(metrics, "open", FullFile, raising=False)
    with pytest.raises(SsalError, match="metrics.jsonl: cannot write: No space left on device"):
        trainer(tmp_path, config(epochs=1)).train()


def test_steps_the_float16_loss_scaler_skips_are_counted(tmp_path):
    # On CUDA with amp=fp16 the GradScaler skips overflowing steps; the CPU scaler behaves the same way.
    run = trainer(tmp_path, config(epochs=1), [PoisonOnce(3), *default_hooks(config(epochs=1))])
    run.precision.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    state = run.train()
    assert state.skipped_steps == 1 and state.nonfinite_streak == 0  # an overflow is not a divergence
    assert run.precision.scaler.get_scale() < 2.0**10
    assert read_checkpoint(tmp_path / "ckpt" / "latest.pth")["skipped_steps"] == 1


def test_under_float16_a_diverged_loss_still_stops_the_run(tmp_path):
    run = trainer(tmp_path, config(max_nonfinite_steps=2), [*default_hooks(config()), NanFrom(4)])
    run.precision.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    with pytest.raises(SsalError, match="2 steps in a row up to step 5"):
        run.train()
