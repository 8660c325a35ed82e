"""Detectors by name: ``build_detector(cfg)`` is how the rest of ssal gets a model.

Every detector takes ``(cfg: ModelConfig, seed: int)``, follows the batch and output contract of
``ssal.models.pillar_rcnn`` (training: ``(loss, logs)``; eval: one prediction dict per frame with ``roi_features``)
and offers ``enable_mc_dropout``. Others (SECOND on spconv, the paper's PV-RCNN) can be added to ``DETECTORS``.
"""

from __future__ import annotations

import torch
from torch import nn

from ssal.errors import SsalError
from ssal.models.config import ModelConfig
from ssal.models.pillar_rcnn import PillarRCNN

DETECTORS: dict[str, type[nn.Module]] = {"pillar_rcnn": PillarRCNN}


def build_detector(cfg: ModelConfig, seed: int = 0) -> nn.Module:
    """The detector named ``cfg.name``, its weights initialised from ``seed`` (the global RNG is left untouched)."""
    cls = DETECTORS.get(cfg.name)
    if cls is None:
        raise SsalError(f"unknown detector {cfg.name!r}; expected one of {', '.join(sorted(DETECTORS))}",
                        where="model.name")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(cfg, seed=seed)
