"""What makes a synthetic scene a Waymo scene: bigger cars, and now and then a no-label zone.

* Vehicles: Waymo drives in the US, whose cars are larger than KITTI's European ones (Waymo's vehicle boxes
  average about 4.7 x 2.1 x 1.7 m against KITTI's 3.9 x 1.6 x 1.56 m). Every car of the scene is scaled up
  uniformly about its footprint by a factor around ``CAR_SCALE``; vans, trucks and trams stay as they are.
* No-label zones (NLZ): Waymo marks areas whose objects are not labelled and flags the points inside them. With
  probability ``NLZ_PROBABILITY`` a sequence has one: a stretch of one roadside, from the kerb outwards.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ssal.data.synthetic.road import Road
from ssal.data.synthetic.scene import Scene

CAR_SCALE = (1.15, 0.04)  # mean and spread of the factor
NLZ_PROBABILITY = 0.3


def enlarge_cars(scene: Scene, rng: np.random.Generator) -> Scene:
    """``scene`` with every Car (and its solids) scaled about the ground point under its centre."""
    actors = scene.actors
    scale = np.where(actors.name == "Car", np.clip(rng.normal(*CAR_SCALE, len(actors)), 1.05, 1.25), 1.0)
    if not len(actors) or np.all(scale == 1.0):
        return scene
    foot = actors.box[:, :3] - np.stack((np.zeros(len(actors)), np.zeros(len(actors)), actors.box[:, 5] / 2), 1)
    box = actors.box.copy()
    box[:, 3:6] *= scale[:, None]
    box[:, 2] = foot[:, 2] + box[:, 5] / 2
    solids = scene.solids
    owned = np.flatnonzero(solids.owner >= 0)
    factor = scale[solids.owner[owned]]
    centre, half = solids.centre.copy(), solids.half.copy()
    centre[owned] = foot[solids.owner[owned]] + factor[:, None] * (solids.centre[owned] - foot[solids.owner[owned]])
    half[owned] *= factor[:, None]
    return replace(scene, solids=replace(solids, centre=centre, half=half), actors=replace(actors, box=box))


@dataclass(frozen=True)
class NoLabelZone:
    """A region in road coordinates: ``s_range`` along the road, lateral offsets from ``l_range[0]`` to
    ``l_range[1]`` (both on one side: positive left, negative right)."""

    s_range: tuple[float, float]
    l_range: tuple[float, float]

    def contains(self, road: Road, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether world points ``x, y`` lie in the zone."""
        s, l = road.to_road(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        low, high = min(self.l_range), max(self.l_range)
        return (s >= self.s_range[0]) & (s <= self.s_range[1]) & (l >= low) & (l <= high)


def sample_no_label_zone(scene: Scene, rng: np.random.Generator) -> NoLabelZone | None:
    """A zone along one roadside (kerb to 40 m beyond), or None (most sequences)."""
    if rng.random() >= NLZ_PROBABILITY:
        return None
    side = float(rng.choice((-1.0, 1.0)))
    start = float(rng.uniform(-60.0, 40.0))
    kerb = scene.road.half_width
    return NoLabelZone(s_range=(start, start + float(rng.uniform(15.0, 40.0))),
                       l_range=(side * kerb, side * (kerb + 40.0)))
