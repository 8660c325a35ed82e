"""The ``cpsp:`` section of a config: Collaborative PseudoScene Pre-training (SPEC 3).

Per-class values are mappings keyed by class name; a class left out takes the paper's KITTI value (K 20,
fallback tau 0.9, lambda 0.2 / final 0.15, 15 objects per scene for the first class and 10 for the others, 3 BACK
objects, 5 points), so the defaults fit any class list. ``configs/kitti/pillar_rcnn.yaml`` spells the KITTI values
out; ``configs/waymo/pillar_rcnn.yaml`` sets Waymo's (K 50 pretrain / 20 final, lambda 0.3, BACK groups 5,
repeat 50 / 30, p 1/2).

The pretrain and final stages differ in lambda, the k-means centre count, the repeat and the BACK groups (none in
the final stage); ``CpspConfig.stage(final)`` resolves them into one ``CpspStage``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ssal.errors import SsalError

__all__ = ["CpspConfig", "CpspStage"]


@dataclass
class CpspConfig:
    # thresholds (SPEC 3.2): tau_c = largest centroid of a 1-D k-means with k = min(K_c + extra_centers, n_c)
    kmeans_centers: dict[str, int] = field(default_factory=dict)  # K_c, pretrain stage
    final_kmeans_centers: dict[str, int] = field(default_factory=dict)  # K_c, final stage
    extra_centers: int = 10  # the original's WRONG_CENTER_NUM: clusters for the wrong (low) scores
    min_predictions: int = 2  # a class with fewer predicted scores than this keeps its fallback tau
    fallback_threshold: dict[str, float] = field(default_factory=dict)  # tau fallback
    low_threshold: dict[str, float] = field(default_factory=dict)  # lambda_c, pretrain
    final_low_threshold: dict[str, float] = field(default_factory=dict)  # final
    # pseudo-scenes (SPEC 3.4)
    sample_groups: dict[str, int] = field(default_factory=dict)  # positives per scene
    back_groups: dict[str, int] = field(default_factory=dict)  # BACK_<c> per scene (pretrain)
    min_points: dict[str, int] = field(default_factory=dict)  # positives need this many points
    candidate_iou: float = 0.3  # two candidates of one group overlapping by this BEV IoU are both dropped
    redraws: int = 10  # scenes with nothing placed are redrawn up to this many times
    # training (SPEC 3.5-3.6)
    labelled_probability: float = 0.2  # p: a sample is a labelled frame with this probability, else a pseudo-scene
    repeat: int = 20  # epoch length = |L| x repeat (pretrain stage)
    final_repeat: int = 10  # (final stage)
    # an iteration-based schedule: an epoch is this many samples whatever |L| (null: |L| x repeat)
    samples_per_epoch: int | None = None  # pretrain stage
    final_samples_per_epoch: int | None = None  # final stage
    epochs: int | None = None  # None: train.epochs
    refresh_interval: int = 10  # R: refresh the database before epochs R, 2R, ... (0: never)
    stable_iou: float = 0.5  # a new box matching an old one by more than this BEV IoU is stable / a match
    inference_batch_size: int = 4  # frames per forward pass over the pool

    def validate(self) -> None:
        for name in ("kmeans_centers", "final_kmeans_centers", "sample_groups", "back_groups", "min_points"):
            for cls, value in getattr(self, name).items():
                if value < (1 if "centers" in name else 0):
                    raise SsalError(f"must not be {'below 1' if 'centers' in name else 'negative'}, got {value}",
                                    f"{name}.{cls}")
        for name in ("fallback_threshold", "low_threshold", "final_low_threshold"):
            for cls, value in getattr(self, name).items():
                if not 0.0 <= value <= 1.0:
                    raise SsalError(f"must lie in [0, 1], got {value}", f"{name}.{cls}")
        for name in ("candidate_iou", "stable_iou", "labelled_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SsalError(f"must lie in [0, 1], got {getattr(self, name)}", name)
        for name, low in (("extra_centers", 0), ("min_predictions", 1), ("redraws", 1), ("repeat", 1),
                          ("final_repeat", 1), ("refresh_interval", 0), ("inference_batch_size", 1)):
            if getattr(self, name) < low:
                raise SsalError(f"must be at least {low}, got {getattr(self, name)}", name)
        for name in ("samples_per_epoch", "final_samples_per_epoch"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise SsalError(f"must be at least 1 or null, got {getattr(self, name)}", name)
        if self.epochs is not None and self.epochs < 1:
            raise SsalError(f"must be at least 1 (or null for train.epochs), got {self.epochs}", "epochs")

    def check_classes(self, classes: list[str]) -> None:
        """Every per-class key names one of ``classes`` (data.classes)."""
        for name in ("kmeans_centers", "final_kmeans_centers", "fallback_threshold", "low_threshold",
                     "final_low_threshold", "sample_groups", "back_groups", "min_points"):
            for cls in getattr(self, name):
                if cls not in classes:
                    raise SsalError(f"class {cls!r} is not in data.classes {classes}", f"cpsp.{name}.{cls}")

    def stage(self, classes: list[str], final: bool) -> CpspStage:
        """The values in force for the pretrain (``final=False``) or final stage, one entry per class."""
        centers = self.final_kmeans_centers if final else self.kmeans_centers
        low = self.final_low_threshold if final else self.low_threshold
        return CpspStage(
            classes=list(classes),
            kmeans_centers={c: int(centers.get(c, 20)) for c in classes},
            extra_centers=self.extra_centers,
            min_predictions=self.min_predictions,
            fallback_threshold={c: float(self.fallback_threshold.get(c, 0.9)) for c in classes},
            low_threshold={c: float(low.get(c, 0.15 if final else 0.2)) for c in classes},
            sample_groups={c: int(self.sample_groups.get(c, 15 if i == 0 else 10)) for i, c in enumerate(classes)},
            back_groups={} if final else {c: int(self.back_groups.get(c, 3)) for c in classes},
            min_points={c: int(self.min_points.get(c, 5)) for c in classes},
            candidate_iou=self.candidate_iou,
            redraws=self.redraws,
            labelled_probability=self.labelled_probability,
            repeat=self.final_repeat if final else self.repeat,
            samples_per_epoch=self.final_samples_per_epoch if final else self.samples_per_epoch,
            refresh_interval=self.refresh_interval,
            stable_iou=self.stable_iou,
            final=final,
        )


@dataclass(frozen=True)
class CpspStage:
    """The CPSP settings of one stage, resolved per class (see ``CpspConfig.stage``)."""

    classes: list[str]
    kmeans_centers: dict[str, int]
    extra_centers: int
    min_predictions: int
    fallback_threshold: dict[str, float]
    low_threshold: dict[str, float]
    sample_groups: dict[str, int]
    back_groups: dict[str, int]
    min_points: dict[str, int]
    candidate_iou: float
    redraws: int
    labelled_probability: float
    repeat: int
    samples_per_epoch: int | None
    refresh_interval: int
    stable_iou: float
    final: bool
