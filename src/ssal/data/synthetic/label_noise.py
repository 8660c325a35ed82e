"""Label noise as human annotators make it: a few centimetres of box jitter, a degree or two of heading, and now
and then no label at all for a far, heavily occluded object.

KITTI's boxes were drawn by people on point clouds and images; they are not exact. Published re-annotation
studies of KITTI put the disagreement of two annotators at a few centimetres in position and size and about
1-2 degrees in heading, and find missed objects mostly far away and largely hidden. ``LabelNoise`` holds those
levels (on by default in every preset; ``ssal synth --exact-labels`` turns it off). The noise is drawn from its
own generator, seeded by the frame, so it is part of the seed and does not change the scan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["LabelNoise", "KITTI_LIKE"]


@dataclass(frozen=True)
class LabelNoise:
    centre: float = 0.03  # metres, one standard deviation, along x and y
    height: float = 0.02  # metres, z of the centre
    size: float = 0.02  # metres, each of l, w, h
    heading: float = math.radians(1.5)  # radians
    missing_share: float = 0.3  # of the objects that are both far and heavily occluded
    missing_distance: float = 35.0  # metres from the sensor
    missing_blocked: float = 0.5  # share of the object's rays blocked by nearer things

    def missing(self, distance: np.ndarray, blocked: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(A,) which of A objects the annotator misses (``distance``, ``blocked``: (A,))."""
        draw = rng.random(len(distance))
        return (distance > self.missing_distance) & (blocked >= self.missing_blocked) & (draw < self.missing_share)

    def jitter(self, boxes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Boxes (A, 7) (x, y, z, l, w, h, heading) as an annotator would draw them."""
        noise = rng.standard_normal((len(boxes), 7))
        scale = np.array([self.centre, self.centre, self.height, self.size, self.size, self.size, self.heading])
        out = boxes + noise * scale
        out[:, 3:6] = np.maximum(out[:, 3:6], 0.1)
        return out


KITTI_LIKE = LabelNoise()
