"""The top-level config: one dataclass per section, each defined beside the code it configures."""

from __future__ import annotations

from dataclasses import dataclass, field

from ssal.data.config import DataConfig


@dataclass
class Config:
    seed: int = 0  # every random choice of a run derives from it
    data: DataConfig = field(default_factory=DataConfig)
