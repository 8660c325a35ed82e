"""Named configurations of the synthetic world: which LiDAR, which camera, which mix of streets.

- ``kitti``: KITTI's sensor (64 beams, 2080 columns: about 115k points per scan, about 20k in the camera view);
  10 dataset frames per drive.
- ``small``: the same world seen by a 32-beam, 1040-column LiDAR (about a quarter of the points), 5 frames per
  drive, for tests and quick demos.
- ``waymo``: a Waymo-like top LiDAR (64 beams from +2.4 deg to -17.6 deg, denser near the horizon, 2650
  columns, 2 m above the ground, 75 m range) over streets with more people (``ssal synth --format waymo``).
- ``waymo-small``: the same with 32 beams and 1325 columns (a quarter of the points), for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ssal.data.synthetic.calibration import IMAGE_SHAPE
from ssal.data.synthetic.scene import STYLE_WEIGHTS
from ssal.data.synthetic.sensor import LidarModel, hdl64e_elevations
from ssal.errors import SsalError


@dataclass(frozen=True)
class Preset:
    name: str
    lidar: LidarModel
    image_shape: tuple[int, int] = IMAGE_SHAPE
    style_weights: dict[str, float] = field(default_factory=lambda: dict(STYLE_WEIGHTS))
    layout: str = "kitti"  # the dataset layout the preset is made for (``ssal synth --format``)
    frames_per_drive: int = 10  # kitti layout: dataset frames taken from one drive
    situations: dict[str, float] | None = None  # rare situations and their share of drives (None: SITUATIONS)


def waymo_top_elevations(beams: int = 64) -> np.ndarray:
    """Beam elevations (degrees, descending) of a Waymo-like top LiDAR: +2.4 deg to -17.6 deg, about 0.14 deg
    apart near the horizon and 0.5 deg at the bottom. Fewer ``beams`` take every k-th of the 64."""
    u = np.linspace(0.0, 1.0, 64)
    every = 2.4 - 20.0 * (0.45 * u + 0.55 * u * u)
    if 64 % beams:
        raise ValueError(f"beams must divide 64, got {beams}")
    return every[:: 64 // beams].copy()


def _waymo_lidar(beams: int, columns: int) -> LidarModel:
    # Mounted 2 m above the ground, 0.3 m over a roof that hides the near ground ahead of and behind the car.
    return LidarModel(elevations_deg=tuple(waymo_top_elevations(beams)), columns=columns, height=2.0,
                      max_range=75.0, min_range=1.0, body=((0.0, 0.0, -0.9, 1.5, 0.9, 0.6),),
                      weak_return=0.012)  # the threshold the Waymo-like world was measured with; unchanged


WAYMO_STYLE_WEIGHTS = {"residential": 0.3, "city": 0.4, "highway": 0.1, "campus": 0.2}

PRESETS = {
    "kitti": Preset("kitti", LidarModel()),
    "small": Preset("small", LidarModel(elevations_deg=tuple(hdl64e_elevations(32)), columns=1040),
                    frames_per_drive=5),
    "waymo": Preset("waymo", _waymo_lidar(64, 2650), style_weights=WAYMO_STYLE_WEIGHTS, layout="waymo"),
    "waymo-small": Preset("waymo-small", _waymo_lidar(32, 1325), style_weights=WAYMO_STYLE_WEIGHTS, layout="waymo"),
}


def get_preset(name: str, layout: str | None = None) -> Preset:
    """The preset called ``name`` (made for ``layout``, when given); an unknown name is a user error."""
    known = sorted(n for n, p in PRESETS.items() if layout is None or p.layout == layout)
    if name not in known:
        raise SsalError(f"unknown preset {name!r}" + (f" for --format {layout}" if layout else "")
                        + f" (choose from {', '.join(known)})", "--preset")
    return PRESETS[name]
