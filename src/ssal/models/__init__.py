"""Detectors: the pillar encoder, BEV backbone, anchor RPN, RoI head, losses and post-processing of ``pillar_rcnn``
(PV-RCNN's structure in plain PyTorch), behind ``build_detector(cfg)``."""

from ssal.models.config import ModelConfig, load_model_config
from ssal.models.gradient_embedding import badge_embedding
from ssal.models.registry import DETECTORS, build_detector

__all__ = ["DETECTORS", "ModelConfig", "badge_embedding", "build_detector", "load_model_config"]
