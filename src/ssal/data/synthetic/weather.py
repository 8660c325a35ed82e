"""Rain as a LiDAR sees it: returns lost to the water in the air and on the surfaces, and spurious echoes from
drops and spray close to the sensor.

In rain, a spinning LiDAR loses a share of its returns (more from dark and far surfaces, whose echoes were weak
already) and reports clusters of low-intensity points a few metres away where drops and spray reflect the beam.
``rain`` applies both to a clean scan.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ssal.data.synthetic.sensor import Scan

__all__ = ["rain"]

LOST = 0.12  # share of returns lost everywhere
WEAK_LOST = 0.35  # extra share lost from weak echoes (reported reflectance below 0.1)
SPURIOUS = (600, 1500)  # spurious near returns per scan
SPURIOUS_RANGE = (2.6, 9.0)  # metres


def rain(scan: Scan, directions: np.ndarray, rng: np.random.Generator) -> Scan:
    """``scan`` in rain: ``directions`` (R, 3) float32 are the LiDAR's unit rays (sensor frame), from which the
    spurious returns are drawn."""
    points = scan.points
    lose = np.where(points[:, 3] < 0.1, LOST + WEAK_LOST, LOST)
    keep = rng.random(len(points)) >= lose
    count = int(rng.integers(*SPURIOUS))
    rays = rng.integers(0, len(directions), count)
    distance = rng.uniform(*SPURIOUS_RANGE, count).astype(np.float32)
    spray = np.empty((count, 4), dtype=np.float32)
    spray[:, :3] = directions[rays] * distance[:, None]
    spray[:, 3] = np.round(rng.uniform(0.0, 0.06, count), 2)
    # Spray near the ground only: drops thrown up by tyres and falling rain near the sensor's height and below.
    spray = spray[spray[:, 2] < 0.5]
    return replace(scan, points=np.concatenate((points[keep], spray)),
                   owner=np.concatenate((scan.owner[keep], np.full(len(spray), -1, dtype=scan.owner.dtype))))
