"""The simulated spinning LiDAR: beam pattern, mounting, range noise, dropout and intensity.

``LidarModel`` describes the device (a Velodyne HDL-64E as KITTI mounted it, by default); ``Lidar`` precomputes
its rays once and scans scenes. A scan returns points in the sensor frame (x forward, y left, z up, origin at
the sensor), as KITTI's ``velodyne/*.bin`` holds them, with the actor each point came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssal.data.synthetic.raycast import GROUND, NOTHING, cast
from ssal.data.synthetic.solids import BOX, PART_COLUMNS, Solids, intersect, transform


def hdl64e_elevations(beams: int = 64) -> np.ndarray:
    """Beam elevations (degrees, descending) of an HDL-64E: an upper block of 32 lasers from +2 deg to -8.33 deg
    (about 1/3 deg apart) and a sparser lower block of 32 from -8.83 deg to -24.8 deg (about 1/2 deg apart).
    Fewer ``beams`` take every k-th laser of the 64."""
    upper = np.linspace(2.0, -8.33, 32)
    lower = np.linspace(-8.83, -24.8, 32)
    every = np.concatenate((upper, lower))
    if 64 % beams:
        raise ValueError(f"beams must divide 64, got {beams}")
    return every[:: 64 // beams].copy()


@dataclass(frozen=True)
class LidarModel:
    elevations_deg: tuple[float, ...] = tuple(hdl64e_elevations())
    columns: int = 2080  # azimuth steps per revolution (KITTI scans: about 0.17 deg)
    height: float = 1.73  # above the ground under the vehicle
    max_range: float = 80.0
    min_range: float = 2.5
    range_noise: float = 0.02  # metres, one standard deviation
    dropout: float = 0.015  # random loss of returns
    # Echo strength (reflectance x incidence, scaled to 20 m) below which returns fade. At 0.06 dark paint fades from
    # about 20 m and mid-grey from about 40 m, as on KITTI's HDL-64E: median points per Car 70 at 20-40 m and 12 at
    # 40-70 m against the real sample's 67 and 14 (0.012 gave 100 and 30; docs/results.md).
    weak_return: float = 0.06
    # The vehicle the sensor is mounted on, in the sensor frame, as boxes (centre, half extents): its rear and
    # its bonnet hide the lowest beams behind (about +-20 deg) and straight ahead (about +-10 deg), as in KITTI.
    body: tuple[tuple[float, ...], ...] = ((-2.0, 0.0, -1.35, 1.0, 1.0, 0.35), (1.6, 0.0, -1.25, 0.6, 0.4, 0.45))

    @property
    def beams(self) -> int:
        return len(self.elevations_deg)


@dataclass
class Scan:
    """One revolution: points and where they came from."""

    points: np.ndarray  # (N, 4) float32: x, y, z (sensor frame), reflectance in [0, 1]
    owner: np.ndarray  # (N,) actor index of each point, -1 for ground and clutter
    potential: np.ndarray  # (A,) rays that would meet each actor if nothing stood in between
    visible: np.ndarray  # (A,) rays whose nearest surface belongs to the actor


class Lidar:
    """A ``LidarModel`` with its rays precomputed (unit directions in grid order, and which of them the
    carrying vehicle blocks)."""

    def __init__(self, model: LidarModel):
        self.model = model
        self.elevations = np.radians(np.asarray(model.elevations_deg, dtype=np.float64))
        azimuth = -np.pi + 2 * np.pi * (np.arange(model.columns) + 0.5) / model.columns
        el, az = np.meshgrid(self.elevations, azimuth, indexing="ij")
        self.directions = np.stack((np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)), axis=-1
                                   ).reshape(-1, 3)
        self.directions32 = self.directions.astype(np.float32)
        self.blocked = self._blocked_by_vehicle()

    def _blocked_by_vehicle(self) -> np.ndarray:
        body = np.asarray(self.model.body, dtype=np.float64).reshape(-1, 6)
        parts = np.zeros((len(body), PART_COLUMNS))
        parts[:, 0] = BOX
        parts[:, 1:4], parts[:, 7:10] = body[:, :3], body[:, 3:]
        solids = Solids.from_parts(parts, np.zeros((len(body), 4)), np.full(len(body), -1))
        blocked = np.zeros(len(self.directions), dtype=bool)
        rays = np.flatnonzero(self.directions[:, 2] < -0.05)
        for index in range(len(solids)):
            t, _ = intersect(solids, np.full(len(rays), index), np.zeros(3), self.directions[rays].T.copy())
            blocked[rays[np.isfinite(t)]] = True
        return blocked

    def scan(self, origin: np.ndarray, rotation: np.ndarray, ground, solids: Solids, num_actors: int,
             rng: np.random.Generator) -> Scan:
        """Scan from a sensor at ``origin`` (3,) with orientation ``rotation`` (3, 3) (sensor -> world)."""
        model = self.model
        hits = cast(origin, rotation, self.directions, self.elevations, model.columns, ground, solids,
                    model.max_range)
        surface = np.where(self.blocked, NOTHING, hits.surface)
        owner_of = np.concatenate((solids.owner, [-1, -1]))  # index -1 (ground) and -2 (nothing) map to -1
        ray_owner = owner_of[surface]
        potential = np.bincount(hits.potential_actor, minlength=num_actors)[:num_actors]
        visible = np.bincount(ray_owner[ray_owner >= 0], minlength=num_actors)[:num_actors]

        rays = np.flatnonzero((surface != NOTHING) & (hits.distance >= model.min_range))
        surface = surface[rays]
        distance = hits.distance[rays].astype(np.float32)
        incidence = hits.incidence[rays].astype(np.float32)
        # Surface properties per ray: solids' from a table, the ground's from where the ray lands.
        table = np.zeros((len(solids) + 2, 3), dtype=np.float32)  # rows -2, -1: nothing, ground
        table[:len(solids)] = np.stack((solids.reflectance, solids.dropout, solids.scatter), axis=1)
        base, loss, scatter = table[surface].T
        on_ground = np.flatnonzero(surface == GROUND)
        landing = (origin.astype(np.float32)
                   + distance[on_ground, None] * self.world_directions(rotation, rays[on_ground]))
        base[on_ground] = ground.reflectance(landing[:, 0], landing[:, 1])
        # Grass and weeds beyond the sidewalk stop some rays short of the soil: a negative scatter.
        scatter[on_ground] = -ground.vegetation(landing[:, 0], landing[:, 1])

        # Weak echoes (dark, grazing, far) fade out; glass and foliage lose returns; some vanish at random.
        strength = base * (0.3 + 0.7 * incidence) * (20.0 / np.maximum(distance, 1.0)) ** 2
        fade = np.minimum(strength / model.weak_return, 1.0)
        keep = np.flatnonzero(rng.random(len(rays), dtype=np.float32) < fade * (1.0 - loss) * (1.0 - model.dropout))
        rays, distance, base = rays[keep], distance[keep], base[keep]
        incidence, scatter = incidence[keep], scatter[keep]
        noise = rng.standard_normal((2, len(rays)), dtype=np.float32)
        distance = distance + model.range_noise * noise[0] + np.abs(noise[1]) * scatter
        points = np.empty((len(rays), 4), dtype=np.float32)
        points[:, :3] = self.directions32[rays] * distance[:, None]
        points[:, 3] = reflectance_echo(base, incidence, distance, rng)
        return Scan(points=points, owner=ray_owner[rays], potential=potential, visible=visible)

    def world_directions(self, rotation: np.ndarray, rays: np.ndarray) -> np.ndarray:
        """float32 world-frame directions (K, 3) of ``rays`` for a sensor turned by ``rotation``."""
        return transform(self.directions32[rays], rotation.astype(np.float32))


def reflectance_echo(reflectance: np.ndarray, incidence: np.ndarray, distance: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Reported reflectance in [0, 1], in steps of 0.01 like KITTI's: the surface's reflectance, a little dimmer
    at grazing incidence and with range, with multiplicative noise. As in KITTI, a growing share of returns
    reads 0 with range (about 5 % near the car, 20 % at 20-40 m, most beyond 50 m), and faint echoes (dark
    paint, tyres) read 0 at any range. Retro-reflectors (reflectance >= 0.9: plates, lights, signs) stay bright
    whatever the angle. float32 in, float32 out."""
    reflectance, incidence, distance = (np.asarray(a, dtype=np.float32) for a in (reflectance, incidence, distance))
    retro = reflectance >= 0.9
    angular = np.where(retro, np.float32(1.0), 0.75 + 0.25 * incidence)
    echo = reflectance * angular * (1.0 - 0.3 * np.minimum(distance / 80.0, 1.0))
    echo = echo * np.exp(0.3 * rng.standard_normal(len(distance), dtype=np.float32))
    unread = 0.04 + 0.96 / (1.0 + np.exp(-(distance - 42.0) / 7.0))
    echo = np.where((echo < 0.05) | (rng.random(len(distance), dtype=np.float32) < unread), np.float32(0.0), echo)
    return np.round(np.clip(echo, 0.0, 1.0), 2)
