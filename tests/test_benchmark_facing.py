"""benchmarks/facing.py: the probe tells facing where the points show it, and only there."""

from __future__ import annotations

import numpy as np
from benchmark_scripts import load_benchmark


def _facing():
    return load_benchmark("facing")


# a box at the origin whose grid (with the probe's margin) spans -1..1 on every axis: points are box-frame units
UNIT_BOX = np.array([[0.0, 0.0, 0.0, 1.8, 1.8, 1.9, 0.0]])


def _walkers(facing, rng, count, lean):
    """Grid features of upright bodies whose upper half sits ``lean`` (box-frame units) ahead of the lower."""
    items = []
    for _ in range(count):
        z = rng.uniform(-0.99, 0.99, 40)
        x = rng.normal(0, 0.15, 40) + lean * (z > 0)
        local = np.stack((np.clip(x, -0.99, 0.99), rng.normal(0, 0.2, 40).clip(-0.99, 0.99), z, np.full(40, 0.3)), 1)
        grids, counts = facing.box_grids(local, UNIT_BOX)
        items.append((grids[0], int(counts[0])))
    return items


def test_grid_features_are_read_in_the_box_frame_and_mirror_when_turned():
    facing = _facing()
    box = np.array([[10.0, 5.0, -1.0, 2.0, 1.0, 2.0, np.pi / 2]])  # facing +y
    points = np.array([[10.0, 5.9, -1.0, 0.7], [10.0, 7.0, -1.0, 0.1], [10.4, 5.0, -0.5, 0.2]])
    grids, counts = facing.box_grids(points, box)
    assert counts.tolist() == [2]  # the second point is outside the box
    share, intensity = grids[0].reshape(2, 8, 4, 8)
    assert share[7].sum() == 0.5 and intensity[7].max() == np.float32(0.7)  # the front point: last length cell
    assert share[3:5, 0].sum() == 0.5  # the point 0.4 m to the box's right: middle of its length, first width cell
    mirrored = facing.turned(grids[0]).reshape(2, 8, 4, 8)
    assert mirrored[0, 0].sum() == 0.5 and mirrored[0, 3:5, 3].sum() == 0.5
    np.testing.assert_array_equal(facing.turned(facing.turned(grids[0])), grids[0])


def test_the_probe_tells_facing_from_a_lean_and_guesses_without_one():
    facing = _facing()
    rng = np.random.default_rng(0)
    leaning = facing.facing_accuracy(_walkers(facing, rng, 200, 0.4), _walkers(facing, rng, 200, 0.4), epochs=15)
    upright = facing.facing_accuracy(_walkers(facing, rng, 200, 0.0), _walkers(facing, rng, 200, 0.0), epochs=15)
    assert leaning.mean() > 0.9 and abs(upright.mean() - 0.5) < 0.12
