"""``ssal synth compare``: synthetic and real KITTI statistics side by side, and a BEV picture of each."""

from __future__ import annotations

import numpy as np

from ssal.cli import main
from ssal.data.synthetic.compare import collect, compare_text
from ssal.data.synthetic.generate import generate


def test_collect_reads_real_kitti_facts(kitti_sample):
    stats = collect(kitti_sample)
    assert len(stats.frame_ids) == 12  # train then val of the sample
    assert 110_000 <= min(stats.points) and max(stats.points) <= 127_000
    pedestrian = stats.names.index("Pedestrian")
    assert stats.frame_ids[stats.frame_of[pedestrian]] == "000000"
    assert 350 <= stats.object_points[pedestrian] <= 400  # about 377 LiDAR points (SOURCE.md)


def test_compare_prints_both_columns_and_draws_both_frames(kitti_sample, tmp_path, capsys):
    synthetic = tmp_path / "synth"
    generate(synthetic, frames=6, seed=2, preset="small")
    picture = tmp_path / "bev.png"
    assert main(["synth", "compare", "--synthetic", str(synthetic), "--real", str(kitti_sample),
                 "--png", str(picture)]) == 0
    out = capsys.readouterr().out
    assert "synthetic (6 frames)" in out and "real (12 frames)" in out
    for row in ("camera field of view", "points per Car", "40-70 m", "Pedestrian (share of the three)",
                "Moderate only", "occlusion of Car/Ped/Cyc", "box size"):
        assert row in out
    real_points = next(line for line in out.splitlines() if line.startswith("  all (mean"))
    # The sample's mean points per scan, counted from the file sizes (16 bytes a point), not by the reader.
    ids = [i for name in ("train", "val") for i in (kitti_sample / "ImageSets" / f"{name}.txt").read_text().split()]
    sizes = [(kitti_sample / "training" / "velodyne" / f"{i}.bin").stat().st_size // 16 for i in ids]
    assert len(ids) == 12 and f"{round(sum(sizes) / len(sizes)):,} (" in real_points
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 20_000


def test_table_lines_up(kitti_sample, tmp_path):
    generate(tmp_path / "s", frames=2, seed=0, preset="small")
    text = compare_text(collect(tmp_path / "s"), collect(kitti_sample, max_frames=2))
    lines = text.splitlines()
    assert len({len(line) for line in lines if line.startswith("  ")}) == 1  # right-aligned columns
    assert np.all([len(line) < 200 for line in lines])


def test_compare_refuses_a_folder_without_splits(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["synth", "compare", "--synthetic", str(tmp_path / "empty"), "--real", str(tmp_path / "empty")]) == 1
    assert capsys.readouterr().err.startswith("error: ")
