"""The ``pipeline:`` section of a config: which S-SSAL variant ``ssal run`` executes.

Variants are configs, not code: ``mode: active`` runs init -> pretrain -> [cpsp] -> query (one or more rounds)
-> final -> [final_cpsp] -> evaluate with ``active.strategy`` choosing the frames; ``pretrain: normal`` leaves the
CPSP stages out (CAL then ranks with the normal model alone, without its partner), ``pretrain: cpsp`` puts them in.
``mode: full_supervision`` is the reference: one training on every label of the pool, then evaluate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ssal.errors import SsalError

__all__ = ["PipelineConfig", "PIPELINE_MODES", "PRETRAIN_KINDS"]

PIPELINE_MODES = ("active", "full_supervision")
PRETRAIN_KINDS = ("normal", "cpsp")


@dataclass
class PipelineConfig:
    """What ``ssal run`` does with a config.

    Attributes:
        mode: ``active`` (the label-efficient pipeline) or ``full_supervision`` (train on every pool label).
        pretrain: ``cpsp`` adds the CPSP stage after ``pretrain``; the query then cascades the CPSP model with the
            normal ``pretrain`` model (CAL's partner). ``normal`` skips CPSP.
        final_cpsp: run CPSP again after ``final`` (the delivered model). ``null``: exactly when pretrain is cpsp;
            ``true`` with ``pretrain: normal`` is the original's "normal pretrain" script, whose last stage is CPSP.
        seed: the seed of the initial set and of every query round (``null``: ``train.seed``).
        partner_nms_iou: NMS IoU of the partner model's pool predictions (the original forces 0.1 when it
            predicts the train split, which matters for Waymo, whose detector config says 0.7); ``null``: the
            model's own ``post_processing.nms_iou``.
        eval_split: the split every model of the run is evaluated on (``null``: ``data.val_split``).
        bev_frames: how many of the first chosen frames the query stage draws for the report.
    """

    mode: Literal["active", "full_supervision"] = "active"
    pretrain: Literal["normal", "cpsp"] = "cpsp"
    final_cpsp: bool | None = None
    seed: int | None = None
    partner_nms_iou: float | None = None
    eval_split: str | None = None
    bev_frames: int = 4

    def validate(self) -> None:
        if self.mode not in PIPELINE_MODES:
            raise SsalError(f"unknown pipeline mode {self.mode!r} (known: {', '.join(PIPELINE_MODES)})", "mode")
        if self.pretrain not in PRETRAIN_KINDS:
            raise SsalError(f"expected one of {', '.join(PRETRAIN_KINDS)}, got {self.pretrain!r}", "pretrain")
        if self.seed is not None and self.seed < 0:
            raise SsalError(f"must not be negative, got {self.seed}", "seed")
        if self.partner_nms_iou is not None and not 0.0 < self.partner_nms_iou <= 1.0:
            raise SsalError(f"must lie in (0, 1], got {self.partner_nms_iou}", "partner_nms_iou")
        if self.bev_frames < 0:
            raise SsalError(f"must not be negative, got {self.bev_frames}", "bev_frames")

    @property
    def uses_cpsp(self) -> bool:
        return self.mode == "active" and self.pretrain == "cpsp"

    @property
    def runs_final_cpsp(self) -> bool:
        if self.mode != "active":
            return False
        return self.pretrain == "cpsp" if self.final_cpsp is None else bool(self.final_cpsp)
