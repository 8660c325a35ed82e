"""Speed of CPSP's data side on a synthetic world: database build, pseudo-scenes, and their share of a training step.

    python benchmarks/cpsp.py [--config configs/synthetic/tiny.yaml] [--frames 24] [--preset kitti]
                              [--labelled 4] [--batch 4] [--steps 6] [--out /tmp/ssal_bench_cpsp] [--json FILE]

It writes a synthetic world (``--frames`` training frames, the ``--preset`` LiDAR), labels ``--labelled`` random
frames, trains the configured detector on them for 2 epochs (a model that predicts something), then measures:

* database build: labelled part, and the pool part *including* the inference pass over the unlabelled frames,
  in frames/s;
* pseudo-scenes/s: ``compose_pseudo_scene`` alone, and a full training item (composition, flip, rotation,
  scaling, cropping) as the loader builds it;
* the composer's share of a training step: the time to build one batch of pseudo-scene items divided by the time
  of one optimiser step on such a batch, measured in the same process (target <= 0.1, so that with a single
  loader worker the data never starves the model).

Numbers are medians over the timed repetitions, on ``OMP_NUM_THREADS`` threads.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def prepare(args) -> tuple:
    from ssal.active.budget import Budget
    from ssal.active.workflow import init_ledger
    from ssal.config import load_config
    from ssal.data.synthetic.generate import generate
    from ssal.pipeline.supervised import train_detector

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    generate(out / "world", frames=args.frames, seed=7, preset=args.preset)
    config = load_config(args.config, [f"data.root={out / 'world'}", "train.workers=0", f"train.batch_size={args.batch}",
                                       "train.epochs=2", "data.train_repeat=4"])
    init_ledger(config, Budget(args.labelled, "frames"), seed=1, out=out / "ledger.json")
    from ssal.active.ledger import Ledger

    labelled = Ledger.load(out / "ledger.json").labelled
    ckpt = train_detector(config, out / "pretrain", labelled)
    return config, out, ckpt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "synthetic" / "tiny.yaml"))
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--preset", default="kitti")
    parser.add_argument("--labelled", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--out", default="/tmp/ssal_bench_cpsp")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    torch.manual_seed(0)

    from ssal.active.ledger import pool_fingerprint
    from ssal.data.loader import collate
    from ssal.engine import Trainer, load_weights
    from ssal.engine.distributed import DistContext
    from ssal.models import build_detector
    from ssal.pipeline.supervised import build_training_set
    from ssal.ssl.cpsp import build_database, prepare_inputs
    from ssal.ssl.database import DatabasePart, build_labelled_part
    from ssal.ssl.mixed_dataset import MixedDataset
    from ssal.ssl.pseudo_scene import compose_pseudo_scene

    config, out, ckpt = prepare(args)
    dist = DistContext.single("cpu")
    inputs = prepare_inputs(config, out / "ledger.json", final=False)
    model = build_detector(config.model, seed=config.train.seed)
    load_weights(model, ckpt, config.model.name, config.model)
    root = out / "cpsp" / "database"

    start = time.perf_counter()
    build_labelled_part(inputs.reader, inputs.labelled, config.data.classes, root / "labelled",
                        config.model.num_point_features,
                        {"labelled_frames": pool_fingerprint(inputs.ledger_frames)})
    labelled_s = time.perf_counter() - start
    start = time.perf_counter()
    build_database(config, inputs, model, ckpt, root, out / "cpsp", dist)  # labelled part reused: pool only
    pool_s = time.perf_counter() - start
    pool = DatabasePart(root / "pool_0").manifest

    stage = config.cpsp.stage(list(config.data.classes), final=False)
    dataset = MixedDataset(build_training_set(config, inputs.reader, inputs.labelled), root, stage,
                           config.train.seed, round_index=0)
    rng = np.random.default_rng(0)
    compose_s = _median_time(lambda: compose_pseudo_scene(dataset.database, stage, rng), 30)
    counter = iter(range(10**6))
    item_s = _median_time(lambda: dataset.pseudo_item(next(counter)), 30)

    trainer = Trainer(model, dataset, config.train, out / "cpsp", model_name=config.model.name,
                      model_config=config.model, collate_fn=collate, hooks=[], dist=dist)
    batches = [collate([dataset.pseudo_item(next(counter)) for _ in range(args.batch)]) for _ in range(args.steps + 1)]
    trainer.run_step(batches[0])  # warm-up
    step_s = statistics.median(_median_time(lambda b=b: trainer.run_step(b), 1) for b in batches[1:])
    batch_s = item_s * args.batch

    result = {
        "frames": args.frames, "preset": args.preset, "labelled_frames": len(inputs.labelled),
        "unlabelled_frames": len(inputs.unlabelled), "threads": torch.get_num_threads(),
        "labelled_part_frames_per_s": len(inputs.labelled) / labelled_s,
        "pool_part_frames_per_s_with_inference": len(inputs.unlabelled) / pool_s,
        "pool_objects": pool["objects"],
        "pseudo_scenes_per_s": 1.0 / compose_s, "pseudo_items_per_s": 1.0 / item_s,
        "train_step_s": step_s, "batch_build_s": batch_s, "composer_share_of_step": batch_s / step_s,
    }
    print(f"CPSP data side, {config.model.name} ({Path(args.config).name}), {args.frames} '{args.preset}' frames, "
          f"{len(inputs.labelled)} labelled, {torch.get_num_threads()} threads")
    print(f"  database, labelled part          {result['labelled_part_frames_per_s']:8.1f} frames/s")
    print(f"  database, pool part + inference  {result['pool_part_frames_per_s_with_inference']:8.1f} frames/s "
          f"({pool['objects']})")
    print(f"  pseudo-scenes (composer)         {result['pseudo_scenes_per_s']:8.1f} /s")
    print(f"  pseudo-scene items (+ augment)   {result['pseudo_items_per_s']:8.1f} /s")
    print(f"  training step, batch {args.batch}          {step_s * 1000:8.0f} ms")
    print(f"  building that batch              {batch_s * 1000:8.0f} ms = {result['composer_share_of_step']:.2f} "
          "of a step (target <= 0.1)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
