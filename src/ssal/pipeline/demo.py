"""``ssal demo`` (what ``make demo`` runs): S-SSAL on a small synthetic world, beside the random + normal baseline
of the same budget, ending with a table and a report.

Steps: generate the world (once), write its info files (once), ``ssal run`` of the S-SSAL config in
``OUT/s_ssal``, the same config with ``active.strategy=random`` and ``pipeline.pretrain=normal`` in
``OUT/random_normal`` (its ``init`` and ``pretrain`` stages are the S-SSAL run's, adopted instead of trained
again), then ``OUT/report/index.html`` with both runs. Every step is skipped when complete, so running it again
continues where it stopped and prints the same numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ssal.config import Config, load_config
from ssal.engine.distributed import DistContext

__all__ = ["DemoSettings", "DemoResult", "run_demo", "demo_configs", "format_demo_table"]

BASELINE = ["active.strategy=random", "pipeline.pretrain=normal", "pipeline.final_cpsp=false"]


@dataclass
class DemoSettings:
    out: Path
    config: Path
    train_frames: int = 100
    val_frames: int = 40
    seed: int = 0
    preset: str = "small"
    overrides: tuple[str, ...] = ()


@dataclass
class DemoResult:
    runs: dict[str, Path]  # variant -> run folder
    report: Path


def demo_configs(settings: DemoSettings, world: Path) -> dict[str, Config]:
    """The S-SSAL config and its random + normal baseline, both on ``world``."""
    common = [f"data.root={world}", f"train.seed={settings.seed}", *settings.overrides]
    return {"s_ssal": load_config(settings.config, common),
            "random_normal": load_config(settings.config, common + BASELINE)}


def run_demo(settings: DemoSettings, dist: DistContext | None = None) -> DemoResult:
    from ssal.pipeline.adopt import adopt_stages
    from ssal.pipeline.run import run_pipeline
    from ssal.report import build_report

    world = settings.out / "world"
    _make_world(world, settings)
    configs = demo_configs(settings, world)
    _create_infos(configs["s_ssal"])
    runs = {name: settings.out / name for name in configs}
    config_file = str(settings.config)
    _step(f"S-SSAL ({configs['s_ssal'].active.strategy} + {configs['s_ssal'].pipeline.pretrain}) in {runs['s_ssal']}")
    run_pipeline(configs["s_ssal"], runs["s_ssal"], config_file=config_file, dist=dist, report=False)
    if not (runs["random_normal"] / "manifest.json").exists():
        adopt_stages(runs["s_ssal"], runs["random_normal"], configs["random_normal"], ("init", "pretrain"),
                     config_file=config_file + " " + " ".join(f"--set {o}" for o in BASELINE))
    _step(f"baseline (random + normal, the same budget) in {runs['random_normal']}")
    run_pipeline(configs["random_normal"], runs["random_normal"], config_file=config_file, dist=dist, report=False)
    report = build_report(list(runs.values()), settings.out / "report")
    return DemoResult(runs, report)


def format_demo_table(result: DemoResult) -> str:
    """The demo's final table: every model of both runs with its labelled boxes and AP."""
    lines = [f"{'run':<15} {'model':<11} {'labelled boxes':>14} {'3D AP mod':>10} {'loose':>7} "
             f"{'Car 3D mod':>10} {'Car BEV mod':>11}"]
    for name, run in result.runs.items():
        results = json.loads((run / "results.json").read_text())
        for model in results["models"]:
            metrics = json.loads((run / model["metrics"]).read_text())
            car = metrics.get("Car", {})
            lines.append(f"{name:<15} {model['stage']:<11} {model['labelled']['labelled_boxes']:>14} "
                         f"{model['headline']['value']:>10.2f} {model['headline'].get('loose', float('nan')):>7.2f} "
                         f"{car.get('3d', {}).get('R40', [0, float('nan')])[1]:>10.2f} "
                         f"{car.get('bev', {}).get('R40', [0, float('nan')])[1]:>11.2f}")
    lines.append("AP: KITTI R40, percent, moderate; '3D AP mod' = mean over classes at the official overlaps "
                 "(Car 0.7, others 0.5), 'loose' = at Car 0.5, others 0.25")
    return "\n".join(lines)


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


def _create_infos(config: Config) -> None:
    from ssal.data.create_infos import create_infos
    from ssal.data.datasets import dataset_from_config

    reader = dataset_from_config(config.data)
    if reader.info_path("train") is None or reader.info_path("val") is None:
        _step("writing info files")
        create_infos(reader, ["train", "val"])


def _step(message: str) -> None:
    print(f"==> {message}", flush=True)
