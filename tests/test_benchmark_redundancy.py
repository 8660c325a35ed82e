"""benchmarks/redundancy.py: the drive-aware measure finds a frame's near-duplicates in its own drive."""

from __future__ import annotations

import numpy as np
import pytest
from benchmark_scripts import load_benchmark


def test_frames_of_a_drive_match_each_other_and_chance_counts_the_drive_sizes():
    redundancy = load_benchmark("redundancy")
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))  # four drives, each frame its drive's scene plus a little change
    drives = [f"d{k}" for k in range(4) for _ in range(5)]
    features = np.repeat(centres, 5, axis=0) + 0.05 * rng.normal(size=(20, 16))
    share, chance = redundancy.own_drive_matches(features, drives)
    assert share == 1.0
    assert chance == pytest.approx(4 * 5 * 4 / (20 * 19))


def test_independent_scenes_match_their_own_drive_only_by_chance():
    redundancy = load_benchmark("redundancy")
    rng = np.random.default_rng(1)
    drives = [f"d{k}" for k in range(50) for _ in range(4)]
    shares = [redundancy.own_drive_matches(rng.normal(size=(200, 16)), drives)[0] for _ in range(5)]
    chance = redundancy.own_drive_matches(rng.normal(size=(200, 16)), drives)[1]
    assert abs(np.mean(shares) - chance) < 0.03
