"""What a round may spend: an amount in boxes (the default; a frame costs its number of ground-truth boxes of the
configured classes) or in frames (a frame costs 1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ssal.errors import SsalError

UNITS = ("boxes", "frames")
Unit = Literal["boxes", "frames"]


@dataclass(frozen=True)
class Budget:
    """``amount`` > 0 of ``unit``."""

    amount: int
    unit: Unit = "boxes"

    def __post_init__(self):
        if self.unit not in UNITS:
            raise SsalError(f"budget unit must be one of {', '.join(UNITS)}, got {self.unit!r}", "unit")
        if isinstance(self.amount, bool) or not isinstance(self.amount, (int, np.integer)):
            raise SsalError(f"budget must be a whole number of {self.unit}, got {self.amount!r}", "budget")
        if self.amount <= 0:
            raise SsalError(f"budget must be positive, got {self.amount} {self.unit}", "budget")

    def cost(self, boxes: int) -> int:
        """The cost of a frame holding ``boxes`` target boxes. In frames every frame costs 1, an empty one too: a
        person still has to look at it. In boxes an empty frame costs 0."""
        return 1 if self.unit == "frames" else int(boxes)

    def costs(self, boxes: np.ndarray) -> np.ndarray:
        """Vectorised ``cost`` of frames holding ``boxes`` (N,) target boxes each."""
        boxes = np.asarray(boxes)
        return np.ones(len(boxes), dtype=np.float64) if self.unit == "frames" else boxes.astype(np.float64)

    def to_dict(self) -> dict:
        return {"amount": int(self.amount), "unit": self.unit}

    @classmethod
    def from_dict(cls, value: dict) -> Budget:
        return cls(int(value["amount"]), value["unit"])

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}"
