"""Device check of the training engine on a CUDA machine (prints one line per check; exit 1 if one fails).

    PYTHONPATH=src python tests/helpers/engine_gpu_check.py

Checks: the precision ``amp=auto`` resolves to; training in bf16 / fp16 (loss scaling) / fp32; exact resume on
CUDA with ``deterministic=True``; the loss scaler's state in checkpoints; inference results on the CPU; TensorBoard
scalars when it is installed; the error for more local ranks than GPUs.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.engine_toys import TOY_MODEL_CONFIG, ToyDataset, ToyModel, toy_collate  # noqa: E402
from ssal.engine import Hook, TrainConfig, Trainer, default_hooks, init_distributed, predict  # noqa: E402
from ssal.engine.checkpoint import read_checkpoint  # noqa: E402
from ssal.engine.seeding import seed_everything  # noqa: E402
from ssal.errors import SsalError  # noqa: E402

FAILURES: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILURES.append(name)


class Stop(Exception):
    pass


class StopAfter(Hook):
    def __init__(self, epochs):
        self.epochs = epochs

    def after_epoch(self, trainer):
        if trainer.state.completed_epochs == self.epochs:
            raise Stop


def trainer(run_dir, amp, hooks=None, model_seed=7, epochs=4, workers=2):
    config = TrainConfig(epochs=epochs, batch_size=8, workers=workers, amp=amp, seed=3, log_interval=2,
                         ckpt_interval=2, deterministic=True)  # exact resume on CUDA needs it (off by default)
    seed_everything(model_seed)
    hooks = default_hooks(config) if hooks is None else hooks
    return Trainer(ToyModel(), ToyDataset(48, seed=3), config, run_dir, model_name="toy",
                   model_config=TOY_MODEL_CONFIG, collate_fn=toy_collate, hooks=hooks)


def exact_resume(root: Path, amp: str) -> tuple[bool, float]:
    start = time.perf_counter()
    whole = trainer(root / f"{amp}_whole", amp)
    whole.train()
    stopped = trainer(root / f"{amp}_split", amp, hooks=[*default_hooks(whole.config), StopAfter(2)])
    try:
        stopped.train()
    except Stop:
        pass
    resumed = trainer(root / f"{amp}_split", amp, model_seed=99)
    resumed.train(resume=True)
    same = all(torch.equal(a, b) for a, b in zip(whole.model.state_dict().values(),
                                                 resumed.model.state_dict().values()))
    return same, time.perf_counter() - start


def main() -> int:
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}", flush=True)
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 0
    root = Path(tempfile.mkdtemp())
    probe = trainer(root / "probe", "auto", hooks=[])
    check("amp=auto resolves to bf16 on this GPU", probe.precision.name == "bf16", probe.precision.name)
    check("model on cuda:0", next(probe.model.parameters()).device == torch.device("cuda", 0))

    for amp in ("off", "auto", "fp16"):
        same, seconds = exact_resume(root, amp)
        state = read_checkpoint(root / f"{amp}_split" / "ckpt" / "latest.pth")
        loss_lines = (root / f"{amp}_split" / "metrics.jsonl").read_text().splitlines()
        detail = f"{len(loss_lines)} metric lines, {seconds:.1f} s for 3 runs"
        check(f"amp={amp}: run stopped after epoch 2 + resumed == uninterrupted (bit-identical)", same, detail)
        if amp == "fp16":
            scale = state["scaler_state"].get("scale")
            check("fp16: loss-scaler state saved in the checkpoint", scale is not None, f"scale={scale}")

    model = trainer(root / "off_whole", "off", hooks=[]).model
    results = predict(model, ToyDataset(5), collate_fn=toy_collate, batch_size=2)
    check("predictions come back on the CPU, in order", all(r["pred"].device.type == "cpu" for r in results)
          and [r["index"] for r in results] == list(range(5)))

    events = list((root / "auto_whole" / "tensorboard").glob("events.out.tfevents.*"))
    check("TensorBoard event file written (tb installed)", bool(events), f"{len(events)} file(s)")

    os.environ.update(WORLD_SIZE="2", RANK="1", LOCAL_RANK=str(torch.cuda.device_count()), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT="29555")
    try:
        init_distributed()
        check("more local ranks than GPUs is refused", False)
    except SsalError as error:
        check("more local ranks than GPUs is refused", "needs a GPU of its own" in str(error), str(error))
    print(f"{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
