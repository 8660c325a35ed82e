"""The ``active:`` section of a config: budgets, the strategy, and each strategy's constants.

KITTI values of the paper: initial budget 200 boxes, one round of 150 boxes, CAL class weights (0.3, 1.1, 1.6)
for (Car, Pedestrian, Cyclist); Waymo: 5000 / 5000 boxes and (0.1, 0.2, 2.7). CRB's protocol is frames: e.g.
``unit: frames``, ``initial_budget: 100``, ``round_budget: 100``, ``rounds: 6``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ssal.errors import SsalError


@dataclass
class CalConfig:
    """Collaborative active learning (SPEC 4); see ``ssal.active.strategies.cal``."""

    class_weights: list[float] | None = None  # w_c of the quotas Q_c = w_c * B / C + 1; None: 1 for every class
    entropy_weights: list[float] | None = None  # per-class multiplier on box entropy; None: 1 for every class
    object_threshold: float = 0.3  # a reliable predicted box counts towards quotas above this score
    diversity_threshold: float = 0.9  # delta: reject a frame more similar than this to an already chosen one
    downweight: float = 5.0  # entropies of a class whose quota is full are divided by this, once
    partner_score: float = 0.5  # partner boxes considered for fusion above this score
    match_iou: float = 0.5  # BEV IoU above which a partner box matches (and may replace) an own box
    append_score: float = 0.8  # an unmatched partner box is appended above this score
    reliable_iou: float = 0.2  # an own box is reliable if a partner box overlaps it by more than this BEV IoU
    relax_similarity_step: float = 0.02  # delta grows by this after a pass that accepts nothing
    relax_score_step: float = 0.05  # object_threshold shrinks by this after such a pass (not below 0)
    max_relax_steps: int = 5  # after this many relaxations the rest follows in plain uncertainty order

    def validate(self) -> None:
        for name in ("class_weights", "entropy_weights"):
            values = getattr(self, name)
            if values is not None and (not values or any(v < 0 for v in values)):
                raise SsalError(f"must be a non-empty list of non-negative numbers, got {values}", name)
        weights = self.class_weights
        if weights is not None and abs(sum(weights) - len(weights)) > 1e-6:
            # The quotas Q_c = w_c * B / C + 1 share the round budget B only when the weights average 1, as the
            # original's (0.3, 1.1, 1.6) and (0.1, 0.2, 2.7) do; other sums silently shrink or inflate every quota.
            raise SsalError(f"must sum to the number of classes ({len(weights)}), got {weights} "
                            f"(sum {sum(weights):g})", "class_weights")
        for name in ("object_threshold", "diversity_threshold", "partner_score", "match_iou", "append_score",
                     "reliable_iou"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SsalError(f"must lie in [0, 1], got {getattr(self, name)}", name)
        if self.downweight < 1.0:
            raise SsalError(f"must be at least 1 (it divides entropies), got {self.downweight}", "downweight")
        if self.relax_similarity_step < 0 or self.relax_score_step < 0 or self.max_relax_steps < 0:
            raise SsalError("relaxation steps must not be negative", "max_relax_steps")


@dataclass
class CrbConfig:
    """CRB (Luo et al., ICLR 2023); K1 and K2 are multiples of the round budget in frames (CRB's configs)."""

    k1: float = 5.0  # stage 1 keeps the K1 = k1 * N_r most label-diverse frames
    k2: float = 3.0  # stage 2 keeps K2 = k2 * N_r prototypes of those
    bandwidth: float = 5.0  # Gaussian KDE bandwidth over box point densities (points per m^3)
    alpha: float = 0.95  # the uniform target spans the alpha-quantile range of the pool's densities
    embedding: Literal["roi_features", "grad_embeddings"] = "roi_features"  # stage 2's representation
    # CRB's code rather than its paper (both change rankings; on for comparisons with published CRB numbers):
    absent_class_smoothing: bool = False  # stage 1 counts every absent class as one box (a 1-box frame: log C)
    per_class_grid: bool = False  # stage 3: one density grid per class (CRB: -50 .. class max + 50), not one

    def validate(self) -> None:
        if self.k1 < self.k2 or self.k2 < 1:
            raise SsalError(f"need k1 >= k2 >= 1, got k1={self.k1}, k2={self.k2}", "k1")
        if self.bandwidth <= 0:
            raise SsalError(f"must be positive, got {self.bandwidth}", "bandwidth")
        if not 0.5 < self.alpha <= 1.0:
            raise SsalError(f"must lie in (0.5, 1], got {self.alpha}", "alpha")


@dataclass
class McDropoutConfig:
    passes: int = 5  # stochastic forward passes of the RoI head (the dropout rate is the model's)

    def validate(self) -> None:
        if self.passes < 2:
            raise SsalError(f"need at least 2 passes for a variance, got {self.passes}", "passes")


@dataclass
class ActiveConfig:
    unit: Literal["boxes", "frames"] = "boxes"  # budget unit; a frame costs its boxes of the classes, or 1
    initial_budget: int = 200  # the random initial set
    round_budget: int = 150  # each query round
    rounds: int = 1  # query rounds of ``ssal run`` (CRB's protocol: 6 rounds of 100 frames)
    retrain: bool = True  # between rounds, train a new model from scratch on the enlarged set to query with
    strategy: str = "cal"
    overshoot: Literal["stop_before", "allow_last"] = "stop_before"  # may the last frame bought exceed the budget?
    cost_score_threshold: float = 0.3  # predicted boxes at or above this score estimate a frame's cost
    selection_multiple: float = 2.0  # greedy selections run until their expected cost is this x the budget
    inference_batch_size: int = 4  # frames per forward pass of pool inference
    cal: CalConfig = field(default_factory=CalConfig)
    crb: CrbConfig = field(default_factory=CrbConfig)
    mc_dropout: McDropoutConfig = field(default_factory=McDropoutConfig)

    def validate(self) -> None:
        from ssal.active.strategies import STRATEGY_NAMES

        for name in ("initial_budget", "round_budget", "rounds", "inference_batch_size"):
            if getattr(self, name) < 1:
                raise SsalError(f"must be at least 1, got {getattr(self, name)}", name)
        if self.strategy not in STRATEGY_NAMES:
            raise SsalError(f"unknown strategy {self.strategy!r} (known: {', '.join(STRATEGY_NAMES)})", "strategy")
        if not 0.0 <= self.cost_score_threshold <= 1.0:
            raise SsalError(f"must lie in [0, 1], got {self.cost_score_threshold}", "cost_score_threshold")
        if self.selection_multiple < 1.0:
            raise SsalError(f"must be at least 1 (the ranking must fill the budget), got {self.selection_multiple}",
                            "selection_multiple")
