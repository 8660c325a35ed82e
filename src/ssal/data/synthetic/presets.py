"""Named configurations of the synthetic world: which LiDAR, which camera, which mix of streets.

- ``kitti``: KITTI's sensor (64 beams, 2080 columns: about 120k points per scan, about 20k in the camera view).
- ``small``: the same world seen by a 32-beam, 1040-column LiDAR (about a quarter of the points), for tests
  and quick demos.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


PRESETS = {
    "kitti": Preset("kitti", LidarModel()),
    "small": Preset("small", LidarModel(elevations_deg=tuple(hdl64e_elevations(32)), columns=1040)),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name is a user error."""
    if name not in PRESETS:
        raise SsalError(f"unknown preset {name!r} (choose from {', '.join(sorted(PRESETS))})", "--preset")
    return PRESETS[name]
