"""The ground of a synthetic scene: a height field over the road's cross-section, and where rays meet it.

Height (world z, metres) = a crowned road (falling by ``crossfall`` from the centre line to the kerb), a kerb
step of ``kerb_height`` up to the sidewalk and terrain, a vertical curve along the road (crest or sag,
``vertical_curve`` * s^2), a few centimetres of smooth roughness (a sum of plane waves), bumpier terrain
beyond the sidewalks and embankments (terrain sloping up or down from the sidewalk), all shifted so that the
ground under the ego vehicle is at z = 0.

Surface reflectance: asphalt, painted lane markings (dashed between lanes, solid at the edges), sidewalk,
terrain (grass, gravel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssal.data.synthetic.road import Road, as_floats

_KERB_RAMP = 0.1  # metres over which the kerb rises (a smooth step keeps the ray intersection stable)
_MARKING_HALF_WIDTH = 0.07
_DASH, _GAP = 3.0, 6.0
BANK_RISE = 1.2  # metres: the most an embankment rises above (or a cutting falls below) the sidewalk


@dataclass(frozen=True)
class Ground:
    road: Road
    crossfall: float = 0.02
    kerb_height: float = 0.12
    vertical_curve: float = 0.0  # 1/m: height += vertical_curve * s^2
    waves: np.ndarray | None = None  # (K, 4) plane waves: amplitude, wavenumber x, wavenumber y, phase
    terrain_waves: np.ndarray | None = None  # (K, 4) shorter, higher waves beyond the sidewalks (lawns, verges)
    banks: tuple[float, float] = (0.0, 0.0)  # slope (rise per metre) of the terrain beyond the right/left sidewalk
    grass: float = 0.0  # metres (one standard deviation) by which vegetation beyond the sidewalk shortens ranges
    asphalt: float = 0.22
    sidewalk: float = 0.32
    terrain: float = 0.40
    marking: float = 0.60

    def __post_init__(self):
        # The height field is shifted so that the ground under the ego vehicle is z = 0.
        object.__setattr__(self, "_base", float(self._raw_height(np.zeros(1), np.zeros(1))[0]))

    def _raw_height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        s, l = self.road.to_road(x, y)
        half = self.road.half_width
        across = np.abs(l)
        height = -self.crossfall * np.minimum(across, half)
        ramp = np.clip((across - half) / _KERB_RAMP, 0.0, 1.0)
        height = height + self.kerb_height * ramp * ramp * (3.0 - 2.0 * ramp)
        height = height + self.vertical_curve * s * s
        if self.waves is not None:
            for amplitude, kx, ky, phase in np.asarray(self.waves).tolist():
                height = height + amplitude * np.sin(kx * x + ky * y + phase)
        if self.terrain_waves is not None:
            off_road = np.clip(across - (half + self.road.sidewalk_width + 0.3), 0.0, 1.0)
            bumps = 0.0
            for amplitude, kx, ky, phase in np.asarray(self.terrain_waves).tolist():
                bumps = bumps + amplitude * (1.0 + np.sin(kx * x + ky * y + phase))
            height = height + off_road * bumps
        if any(self.banks):  # embankments and cuttings: the terrain rises or falls away, up to BANK_RISE
            beyond = np.maximum(across - (half + self.road.sidewalk_width + 0.3), 0.0)
            bank = np.where(l < 0, self.banks[0], self.banks[1])
            height = height + np.clip(bank * beyond, -BANK_RISE, BANK_RISE)
        return height

    def height(self, x, y) -> np.ndarray:
        """Ground height at world ``x, y`` (z = 0 under the ego vehicle); float32 in, float32 out."""
        x, y = as_floats(x), as_floats(y)
        return self._raw_height(x, y) - self._base

    def reflectance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Surface reflectance at ground points ``x, y``."""
        s, l = self.road.to_road(x, y)
        road = self.road
        across = np.abs(l)
        out = np.where(across <= road.half_width, self.asphalt,
                       np.where(across <= road.half_width + road.sidewalk_width, self.sidewalk, self.terrain))
        edge = road.lanes * road.lane_width  # solid line between the lanes and the parking strip / kerb
        lines = np.abs(across - edge) < _MARKING_HALF_WIDTH
        dashed = np.zeros_like(lines)
        for k in range(road.lanes):  # the centre line (k = 0) and the lines between lanes
            dashed |= np.abs(across - k * road.lane_width) < _MARKING_HALF_WIDTH
        dashed &= np.mod(s, _DASH + _GAP) < _DASH
        return np.where(lines | dashed, self.marking, out)

    def vegetation(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Range scatter (metres) of ground returns at ``x, y``: ``grass`` on the terrain beyond the sidewalk, 0 on
        the road and the sidewalk (float32 in, float32 out)."""
        if not self.grass:
            return np.zeros(len(x), dtype=np.asarray(x).dtype)
        _, l = self.road.to_road(x, y)
        beyond = np.abs(l) > self.road.half_width + self.road.sidewalk_width + 0.3
        return np.where(beyond, self.grass, 0.0).astype(np.asarray(x).dtype)

    def bounds(self, reach: float) -> tuple[float, float]:
        """Lowest and highest ground within ``reach`` metres of the ego vehicle (conservative)."""
        waves = float(np.abs(self.waves[:, 0]).sum()) if self.waves is not None else 0.0
        bumps = 2.0 * float(np.abs(self.terrain_waves[:, 0]).sum()) if self.terrain_waves is not None else 0.0
        curve = abs(self.vertical_curve) * (reach + abs(self.road.ego_l)) ** 2
        bank = BANK_RISE if any(self.banks) else 0.0
        low = -self.crossfall * self.road.half_width - curve - waves - bank - self._base
        high = self.kerb_height + curve + waves + bumps + bank - self._base
        return low - 0.01, high + 0.01

    def intersect(self, origin: np.ndarray, directions: np.ndarray, max_range: float) -> np.ndarray:
        """Distance (R,) along unit rays from ``origin`` (3,) to the ground, ``inf`` where a ray misses it within
        ``max_range``.

        A safeguarded root search along each ray: the ray is surely above the ground until it sinks below the
        highest ground there can be, and surely below it once under the lowest; a Newton-like first step from
        the flat-ground answer, then secant steps, fall back to halving that bracket whenever they leave it, and
        rays still unsettled after a few steps (kerbs, bumps met at grazing angles) are bisected to the end.
        """
        t = np.full(len(directions), np.inf)
        ox, oy, oz = (float(v) for v in origin)
        low, high = self.bounds(max_range)
        reaches = (directions[:, 2] < -1e-4) & (oz + max_range * directions[:, 2] < high)
        index = np.flatnonzero(reaches)
        # float32: millimetres at 80 m, and much faster sines.
        dx, dy, dz = (directions[index, k].astype(np.float32) for k in range(3))
        above = (oz - high) / -dz  # the ray cannot meet the ground before this
        below = (oz - low) / -dz  # nor stay above it after this
        distance = np.clip(oz / -dz, above, below)
        previous = gap_previous = None
        for step in range(32):
            gap = oz + distance * dz - self.height(ox + distance * dx, oy + distance * dy)
            settled = np.abs(gap) < 0.003
            t[index[settled]] = distance[settled]
            keep = ~settled
            if not keep.any():
                break
            index, dx, dy, dz, distance, gap = index[keep], dx[keep], dy[keep], dz[keep], distance[keep], gap[keep]
            above, below = above[keep], below[keep]
            over = gap > 0
            above, below = np.where(over, distance, above), np.where(over, below, distance)
            if previous is None:
                candidate = distance + gap / -dz
            else:
                previous, gap_previous = previous[keep], gap_previous[keep]
                with np.errstate(divide="ignore", invalid="ignore"):
                    candidate = distance - gap * (distance - previous) / (gap - gap_previous)
            inside = np.isfinite(candidate) & (candidate > above) & (candidate < below) & (step < 6)
            previous, gap_previous = distance, gap
            distance = np.where(inside, candidate, 0.5 * (above + below)).astype(np.float32)
        t[(t <= 0) | (t > max_range)] = np.inf
        return t

    def fit_plane(self, extent: tuple[float, float, float, float] = (0.0, 40.0, -6.0, 6.0)) -> np.ndarray:
        """Least-squares plane ``z = a x + b y + c`` (returned as ``(a, b, c)``) through the ground over the world
        rectangle ``(x_min, x_max, y_min, y_max)``, as a road plane estimated from ground points would be."""
        x, y = np.meshgrid(np.linspace(extent[0], extent[1], 21), np.linspace(extent[2], extent[3], 9))
        x, y = x.ravel(), y.ravel()
        design = np.stack((x, y, np.ones_like(x)), axis=1)
        solution, *_ = np.linalg.lstsq(design, self.height(x, y), rcond=None)
        return solution
