"""The top-level config: one dataclass per section, each defined beside the code it configures."""

from __future__ import annotations

from dataclasses import dataclass, field

from ssal.active.config import ActiveConfig
from ssal.data.augment import AugmentConfig
from ssal.data.config import DataConfig
from ssal.engine.config import TrainConfig
from ssal.errors import SsalError
from ssal.models.config import ModelConfig
from ssal.ssl.config import CpspConfig
from ssal.pipeline.config import PipelineConfig


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    active: ActiveConfig = field(default_factory=ActiveConfig)
    cpsp: CpspConfig = field(default_factory=CpspConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    def validate(self) -> None:
        if list(self.model.class_names) != list(self.data.classes):
            raise SsalError(f"{self.model.class_names} must equal data.classes {self.data.classes} "
                            "(same classes, same order: class id = position + 1)",
                            "model.class_names")
        for key in ("class_weights", "entropy_weights"):
            weights = getattr(self.active.cal, key)
            if weights is not None and len(weights) != len(self.data.classes):
                raise SsalError(f"{len(weights)} weights for {len(self.data.classes)} classes {self.data.classes}",
                                f"active.cal.{key}")
        for name in self.augment.sample_groups:
            if name not in self.data.classes:
                raise SsalError(f"class {name!r} is not in data.classes {self.data.classes}",
                                f"augment.sample_groups.{name}")
        self.cpsp.check_classes(list(self.data.classes))
