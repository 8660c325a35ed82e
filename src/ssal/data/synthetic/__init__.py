"""The synthetic LiDAR world: a KITTI-like dataset generated on the spot (``ssal synth``)."""
