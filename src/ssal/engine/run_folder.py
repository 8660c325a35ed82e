"""A training run's folder: what it holds, whether a new run may start there, and the debris a kill leaves.

A run folder holds ``ckpt/``, ``metrics.jsonl``, ``tensorboard/`` and ``config.yaml`` (``RUN_OUTPUTS``). Starting
a new training in a folder that already holds a run would mix two runs (epoch files of the old one stay, metrics
repeat), so it is refused unless the caller resumes it or asks to overwrite it. A process killed in the middle
of an atomic write leaves a hidden temporary file (``.<name>.<random>.tmp``, see ``ssal.atomic``) that nothing
will ever rename; they are removed when training starts again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ssal.engine.checkpoint import checkpoint_dir, latest_checkpoint_path, list_epoch_checkpoints
from ssal.errors import SsalError

__all__ = ["RUN_OUTPUTS", "existing_run", "prepare_run_folder", "remove_temporary_files"]

RUN_OUTPUTS = ("ckpt", "metrics.jsonl", "tensorboard", "config.yaml")


def existing_run(run_dir: str | os.PathLike) -> str | None:
    """What ``run_dir`` already holds of a training run, in words, or ``None`` when it holds nothing."""
    run_dir = Path(run_dir)
    found = [name for name in RUN_OUTPUTS if (run_dir / name).exists()]
    if not found:
        return None
    epochs = [epoch for epoch, _ in list_epoch_checkpoints(run_dir)]
    if epochs:
        return f"checkpoints up to epoch {max(epochs)}"
    if latest_checkpoint_path(run_dir).is_file():
        return "a checkpoint (ckpt/latest.pth)"
    return ", ".join(found)


def prepare_run_folder(run_dir: str | os.PathLike, resume: bool, overwrite: bool) -> None:
    """Refuse to start a new run over an existing one unless ``resume`` or ``overwrite``; with ``overwrite``,
    delete the old run's outputs (nothing else in the folder). Call it on the rank that writes, under the
    folder's ``RunLock``, before anything is written."""
    run_dir = Path(run_dir)
    if resume and overwrite:
        raise SsalError("give --resume (continue the run) or --overwrite (start it again), not both", "--overwrite")
    held = existing_run(run_dir)
    if held is None or resume:
        return
    if not overwrite:
        raise SsalError(f"already holds a training run ({held}); continue it with --resume, or start it again "
                        "with --overwrite", run_dir)
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def remove_temporary_files(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of interrupted atomic writes in ``run_dir`` and ``run_dir/ckpt``; returns them.

    Only call this while no other process writes there (the run folder's lock)."""
    removed = []
    for folder in (Path(run_dir), checkpoint_dir(run_dir)):
        if not folder.is_dir():
            continue
        for path in folder.glob(".*.tmp"):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed
