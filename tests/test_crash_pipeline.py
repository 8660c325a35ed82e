"""Kill -9 in ``ssal run``: the short version of ``benchmarks/faults.py``. The tiny S-SSAL pipeline on the smallest
world is killed twice (during its write a third of the way through, then 40 % of a run's length into the re-run)
and run to the end:
the ledger, the selected frames, every model and evaluation are the uninterrupted run's, nothing temporary is left."""

from __future__ import annotations

import shutil

import pytest
from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def faults():
    return load_benchmark("faults")


@pytest.fixture(scope="module")
def reference(faults, tmp_path_factory):
    """The smallest world and one uninterrupted run on it: (world, run folder, its length in s, the number of
    files it wrote, its outcome)."""
    scratch = tmp_path_factory.mktemp("faults")
    world = faults.make_world(scratch / "world", 12, 4)
    length = faults.run_to_end(world, scratch / "reference", writes_log=scratch / "writes.txt")
    writes = len((scratch / "writes.txt").read_text().splitlines())
    return world, scratch / "reference", length, writes, faults.outcome(scratch / "reference")


def test_a_pipeline_killed_twice_ends_like_an_uninterrupted_one(faults, reference, tmp_path):
    world, run, length, writes, outcome = reference
    assert not faults.leftovers(run) and writes > 20
    row = faults.trial(world, tmp_path / "killed", [("write", writes // 3), ("time", 0.4 * length)], outcome)
    assert row["landed"][0] not in ("had finished", "set-up")  # the first kill hit a running stage
    assert row["ok"], (row["checks"], row["left"], row["landed"])


def test_a_rerun_removes_what_killed_writes_left(faults, reference, tmp_path):
    """A kill in the middle of an atomic write leaves ``.NAME.*.tmp``; one during pool inference or a CPSP
    database build leaves ``NAME.partial/``: the next ``ssal run`` removes them wherever they are."""
    world, run, _, _, outcome = reference
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    debris = [copy / ".manifest.json.x1y2.tmp", copy / "final" / "ckpt" / ".latest.pth.a1b2.tmp",
              copy / "eval" / "final" / ".metrics.json.c3d4.tmp", copy / "pool_outputs" / "cpsp.partial" / "x.npy",
              copy / "cpsp" / "database" / "pool_0.partial" / "part.npy"]
    for path in debris:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    faults.run_to_end(world, copy)
    assert not faults.leftovers(copy) and faults.outcome(copy) == outcome
