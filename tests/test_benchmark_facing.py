"""benchmarks/facing.py: the probe tells facing where the points show it, and only there."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _facing():
    spec = importlib.util.spec_from_file_location("facing_benchmark", ROOT / "benchmarks" / "facing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _walkers(rng, count, lean):
    """Box-frame points of upright bodies whose upper half sits ``lean`` (box-frame units) ahead of the lower."""
    items = []
    for _ in range(count):
        z = rng.uniform(-1, 1, 40)
        x = rng.normal(0, 0.15, 40) + lean * (z > 0)
        local = np.stack((np.clip(x, -0.99, 0.99), rng.normal(0, 0.2, 40).clip(-0.99, 0.99), z, np.full(40, 0.3)), 1)
        items.append((local, 40))
    return items


def test_points_are_expressed_in_the_box_frame():
    facing = _facing()
    box = np.array([10.0, 5.0, -1.0, 2.0, 1.0, 2.0, np.pi / 2])  # facing +y
    points = np.array([[10.0, 5.9, -1.0, 0.7], [10.0, 7.0, -1.0, 0.1], [10.4, 5.0, 0.0, 0.2]])
    local = facing.box_frame_points(points, box)
    assert local.shape == (2, 4)  # the second point is outside the box
    np.testing.assert_allclose(local[0], [0.9 / 1.1, 0.0, 0.0, 0.7], atol=1e-9)
    np.testing.assert_allclose(local[1, :3], [0.0, -0.4 / 0.6, 1.0 / 1.05], atol=1e-9)
    turned = facing.occupancy(local, turned=True)
    assert turned.shape == (2 * 8 * 4 * 8,) and turned[:256].sum() == 1.0 and not np.array_equal(
        turned, facing.occupancy(local, turned=False))


def test_the_probe_tells_facing_from_a_lean_and_guesses_without_one():
    facing = _facing()
    rng = np.random.default_rng(0)
    leaning = facing.facing_accuracy(_walkers(rng, 200, 0.4), _walkers(rng, 200, 0.4), epochs=15)
    upright = facing.facing_accuracy(_walkers(rng, 200, 0.0), _walkers(rng, 200, 0.0), epochs=15)
    assert leaning.mean() > 0.9 and abs(upright.mean() - 0.5) < 0.12
