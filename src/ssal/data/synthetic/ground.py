"""The ground of a synthetic scene: a height field over the road's cross-section, and where rays meet it.

Height (world z, metres) = a crowned road (falling by ``crossfall`` from the centre line to the kerb), a kerb
step of ``kerb_height`` up to the sidewalk and terrain, a vertical curve along the road (crest or sag,
``vertical_curve`` * s^2), a few centimetres of smooth roughness (a sum of plane waves), and bumpier terrain
beyond the sidewalks, all shifted so that the ground under the ego vehicle is at z = 0.

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


@dataclass(frozen=True)
class Ground:
    road: Road
    crossfall: float = 0.02
    kerb_height: float = 0.12
    vertical_curve: float = 0.0  # 1/m: height += vertical_curve * s^2
    waves: np.ndarray | None = None  # (K, 4) plane waves: amplitude, wavenumber x, wavenumber y, phase
    terrain_waves: np.ndarray | None = None  # (K, 4) shorter, higher waves beyond the sidewalks (lawns, verges)
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

    def intersect(self, origin: np.ndarray, directions: np.ndarray, max_range: float) -> np.ndarray:
        """Distance (R,) along unit rays from ``origin`` (3,) to the ground, ``inf`` where a ray misses it within
        ``max_range`` (rays that rise, or grazing rays whose intersection does not settle)."""
        t = np.full(len(directions), np.inf)
        active = np.flatnonzero(directions[:, 2] < -1e-3)
        d = directions[active].astype(np.float32)  # float32: millimetres at 80 m, and much faster sines
        ox, oy, oz = (float(v) for v in origin)

        def gap(distance, rows):  # ray height above the ground at ``distance``
            x = ox + distance * d[rows, 0]
            y = oy + distance * d[rows, 1]
            return oz + distance * d[rows, 2] - self.height(x, y)

        # From the flat-ground solution, one fixed-point step, then secant steps on the rays not yet settled;
        # the surface is smooth, so most rays settle at once.
        rows = np.arange(len(active))
        t_prev = oz / -d[:, 2]
        f_prev = gap(t_prev, rows)
        t_now = t_prev + f_prev / -d[:, 2]
        for _ in range(4):
            f_now = gap(t_now, rows)
            settled = np.abs(f_now) < 0.003
            t[active[rows[settled]]] = t_now[settled]
            keep = ~settled
            rows, t_prev, f_prev, t_now, f_now = rows[keep], t_prev[keep], f_prev[keep], t_now[keep], f_now[keep]
            if not len(rows):
                break
            change = t_now - t_prev
            slope = (f_now - f_prev) / np.where(np.abs(change) > 1e-9, change, 1e-9)
            step = np.where(np.abs(slope) > 1e-6, f_now / np.where(slope == 0, 1.0, slope), 0.0)
            t_prev, f_prev, t_now = t_now, f_now, np.clip(t_now - step, 0.0, 2.0 * max_range)
        if len(rows):  # the few left (kerbs, grazing rays): bisection between above and below the ground
            t[active[rows]] = self._bisect(gap, rows, oz, d[rows, 2])
        t[(t <= 0) | (t > max_range)] = np.inf
        return t

    @staticmethod
    def _bisect(gap, rows: np.ndarray, height: float, dz: np.ndarray) -> np.ndarray:
        flat = height / -dz
        low, high = 0.5 * flat, (height + 1.5) / -dz  # above the ground there, below it here (for |ground| < 0.8 m)
        bracketed = (gap(low, rows) > 0) & (gap(high, rows) < 0)
        for _ in range(14):
            middle = 0.5 * (low + high)
            above = gap(middle, rows) > 0
            low, high = np.where(above, middle, low), np.where(above, high, middle)
        return np.where(bracketed, 0.5 * (low + high), np.inf)

    def fit_plane(self, extent: tuple[float, float, float, float] = (0.0, 40.0, -6.0, 6.0)) -> np.ndarray:
        """Least-squares plane ``z = a x + b y + c`` (returned as ``(a, b, c)``) through the ground over the world
        rectangle ``(x_min, x_max, y_min, y_max)``, as a road plane estimated from ground points would be."""
        x, y = np.meshgrid(np.linspace(extent[0], extent[1], 21), np.linspace(extent[2], extent[3], 9))
        x, y = x.ravel(), y.ravel()
        design = np.stack((x, y, np.ones_like(x)), axis=1)
        solution, *_ = np.linalg.lstsq(design, self.height(x, y), rcond=None)
        return solution
