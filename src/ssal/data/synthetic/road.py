"""The road of a synthetic scene: a centre line (straight or a circular arc) and its cross-section.

Road coordinates are ``(s, l)``: distance along the centre line and signed lateral offset (left positive).
Traffic keeps right: lanes with ``l < 0`` run towards +s, lanes with ``l > 0`` towards -s. The world frame has
its origin on the ground under the ego vehicle, x along the ego's heading; the ego stands at road coordinates
``(0, ego_l)`` and the road at s = 0 is turned by ``heading`` from world x.

Cross-section from the centre outwards, on each side: lanes (``lanes`` per direction, ``lane_width`` each), a
parking strip of ``parking_width`` (may be 0), the kerb, a sidewalk of ``sidewalk_width``, then open terrain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Road:
    lanes: int = 1  # lanes per direction
    lane_width: float = 3.5
    parking_width: float = 2.2
    sidewalk_width: float = 2.5
    curvature: float = 0.0  # 1/m, positive turns left
    heading: float = 0.0  # road direction at s = 0, relative to world x (rad)
    ego_l: float = -1.75  # lateral road coordinate of the ego vehicle

    @property
    def half_width(self) -> float:
        """Centre line to kerb."""
        return self.lanes * self.lane_width + self.parking_width

    def lane_centre(self, index: int) -> float:
        """Lateral coordinate of lane ``index``: 0, 1, ... on the right (towards +s), -1, -2, ... on the left."""
        side = -1.0 if index >= 0 else 1.0
        k = index if index >= 0 else -index - 1
        return side * (k + 0.5) * self.lane_width

    def to_world(self, s, l) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World ``x, y`` and road direction (rad) at road coordinates ``s, l`` (arrays of one shape)."""
        s, l = as_floats(s), as_floats(l)
        k = self.curvature
        if abs(k) < 1e-9:
            px, py, angle = s, l, np.zeros_like(s)
        else:
            angle = k * s
            px = np.sin(angle) / k - l * np.sin(angle)
            py = (1.0 - np.cos(angle)) / k + l * np.cos(angle)
        py = py - self.ego_l
        c, si = math.cos(self.heading), math.sin(self.heading)
        return c * px - si * py, si * px + c * py, angle + self.heading

    def to_road(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Road coordinates ``s, l`` of world points ``x, y`` (float32 in, float32 out; else float64)."""
        x, y = as_floats(x), as_floats(y)
        c, si = math.cos(self.heading), math.sin(self.heading)
        qx, qy = c * x + si * y, -si * x + c * y + self.ego_l
        k = self.curvature
        if abs(k) < 1e-9:
            return qx, qy
        sign = math.copysign(1.0, k)
        vx, vy = qx, qy - 1.0 / k
        l = 1.0 / k - sign * np.hypot(vx, vy)
        s = np.arctan2(sign * vx, -sign * vy) / k
        return s, l


def as_floats(values) -> np.ndarray:
    """float32 arrays stay float32 (the ray caster's precision), anything else becomes float64."""
    values = np.asarray(values)
    return values if values.dtype == np.float32 else values.astype(np.float64)
