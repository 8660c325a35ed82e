"""``ssal demo`` (what ``make demo`` runs): a synthetic world, a detector trained on it, its KITTI AP.

Each step is skipped when its output is already complete, so running it again continues where it stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ssal.config import Config, load_config


@dataclass
class DemoSettings:
    out: Path
    config: Path
    train_frames: int = 200
    val_frames: int = 60
    epochs: int = 12
    seed: int = 0
    preset: str = "kitti"


def run_demo(settings: DemoSettings) -> dict:
    """Generate the world (once), train (resuming), evaluate; returns the evaluator's result."""
    from ssal.data.create_infos import create_infos
    from ssal.data.datasets import dataset_from_config
    from ssal.pipeline.prediction import evaluate_frames, load_detector, predict_frames, save_metrics, save_predictions
    from ssal.pipeline.supervised import train_detector

    world = settings.out / "world"
    _make_world(world, settings)
    config = demo_config(settings, world)
    reader = dataset_from_config(config.data)
    if reader.info_path("train") is None or reader.info_path("val") is None:
        _step("writing info files")
        create_infos(reader, ["train", "val"])
    _step(f"training {config.model.name} for {config.train.epochs} epochs on {settings.train_frames} frames")
    checkpoint = train_detector(config, settings.out / "train", resume=True)
    _step(f"evaluating on {settings.val_frames} validation frames")
    infos = reader.infos("val")
    predictions = predict_frames(config, load_detector(config, checkpoint), reader, infos)
    save_predictions(settings.out / "eval", config, infos, predictions)
    metrics = evaluate_frames(config, infos, predictions)
    save_metrics(settings.out / "eval", metrics, len(infos))
    return metrics


def demo_config(settings: DemoSettings, world: Path) -> Config:
    return load_config(settings.config, [f"data.root={world}", f"train.epochs={settings.epochs}",
                                         f"train.seed={settings.seed}"])


def _make_world(world: Path, settings: DemoSettings) -> None:
    from ssal.data.synthetic.generate import generate

    wanted = {"train_frames": settings.train_frames, "val_frames": settings.val_frames, "seed": settings.seed,
              "preset": settings.preset}
    record = world / "synth.json"
    if record.is_file() and all(json.loads(record.read_text()).get(k) == v for k, v in wanted.items()):
        return
    _step(f"generating the synthetic world ({settings.train_frames} + {settings.val_frames} frames, "
          f"preset {settings.preset})")
    generate(world, settings.train_frames, settings.seed, val_frames=settings.val_frames, preset=settings.preset,
             overwrite=True, progress=True)


def _step(message: str) -> None:
    print(f"==> {message}", flush=True)
