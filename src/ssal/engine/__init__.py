"""The training engine: optimiser and one-cycle schedule, atomic checkpoints with exact resume, hooks, metrics,
distributed training (torchrun; gloo on CPU, NCCL on GPU) and sharded inference.

Typical use (the ``ssal train`` command does this)::

    from ssal.engine import Trainer, TrainConfig, distributed_session, seed_everything

    with distributed_session() as dist:                    # single process unless started by torchrun
        config = TrainConfig(epochs=80, batch_size=2).validate()
        seed_everything(config.seed)                      # the initial weights follow the seed
        model = build_model(model_config)
        trainer = Trainer(model, dataset, config, run_dir, model_name="pillar_rcnn",
                          model_config=model_config, collate_fn=collate, dist=dist)
        trainer.train(resume=True)                        # continues from run_dir/ckpt/latest.pth if present
"""

from ssal.atomic import atomic_open, atomic_pickle_dump, atomic_torch_save, atomic_write_json, atomic_write_text
from ssal.engine.checkpoint import ModelIdentity, config_fingerprint, load_checkpoint, load_weights, read_checkpoint
from ssal.engine.config import TrainConfig
from ssal.engine.device import to_device
from ssal.engine.distributed import DistContext, distributed_session, init_distributed
from ssal.engine.hooks import CheckpointHook, Hook, ProgressHook
from ssal.engine.inference import predict
from ssal.engine.metrics import MetricsHook
from ssal.engine.optim import OneCycle, build_optimizer
from ssal.engine.sampler import ShardedSampler
from ssal.engine.seeding import item_rng, item_seed_sequence, seed_everything
from ssal.engine.trainer import Trainer, TrainState, default_hooks

__all__ = [
    "atomic_open",
    "atomic_pickle_dump",
    "atomic_torch_save",
    "atomic_write_json",
    "atomic_write_text",
    "ModelIdentity",
    "config_fingerprint",
    "load_checkpoint",
    "load_weights",
    "read_checkpoint",
    "TrainConfig",
    "to_device",
    "DistContext",
    "distributed_session",
    "init_distributed",
    "CheckpointHook",
    "Hook",
    "ProgressHook",
    "predict",
    "MetricsHook",
    "OneCycle",
    "build_optimizer",
    "ShardedSampler",
    "item_rng",
    "item_seed_sequence",
    "seed_everything",
    "Trainer",
    "TrainState",
    "default_hooks",
]
