"""The pool-outputs store: streamed writes, memory-mapped reads, empty frames, segment reductions, merging."""

from __future__ import annotations

import numpy as np
import pytest

from ssal.active.outputs import PoolOutputs, PoolOutputsWriter, merge_outputs
from ssal.active.segments import gather_rows, segment_count, segment_max, segment_mean, segment_sum
from ssal.active.simulated_outputs import simulated_outputs
from ssal.errors import SsalError

FIELDS = {"boxes": (7,), "scores": (), "labels": (), "cls_probs": (3,), "roi_features": (8,)}


def frame(k: int, value: float) -> dict:
    return {"boxes": np.full((k, 7), value), "scores": np.full(k, value / 10), "labels": np.ones(k),
            "cls_probs": np.full((k, 3), 1 / 3), "roi_features": np.full((k, 8), value)}


def test_written_frame_by_frame_and_read_back_memory_mapped(tmp_path):
    with PoolOutputsWriter(tmp_path / "pool", ["Car", "Pedestrian", "Cyclist"], FIELDS, {"ckpt": "x.pt"}) as w:
        w.append("a", **frame(2, 1.0))
        w.append("b", **frame(0, 2.0))  # a frame without predictions
        w.append("c", **frame(3, 3.0))
    outputs = PoolOutputs.open(tmp_path / "pool")
    assert outputs.frame_ids == ["a", "b", "c"]
    assert outputs.counts().tolist() == [2, 0, 3]
    assert isinstance(outputs.roi_features, np.memmap) and outputs.roi_features.dtype == np.float16
    assert outputs.frame(2)["boxes"].shape == (3, 7) and (outputs.frame(2)["boxes"] == 3.0).all()
    assert outputs.frame(1)["scores"].shape == (0,)
    assert outputs.info == {"ckpt": "x.pt"}
    assert not (tmp_path / "pool.partial").exists()


def test_an_interrupted_write_leaves_no_store_behind(tmp_path):
    with pytest.raises(RuntimeError):
        with PoolOutputsWriter(tmp_path / "pool", ["Car", "Pedestrian", "Cyclist"], FIELDS) as w:
            w.append("a", **frame(2, 1.0))
            raise RuntimeError("killed")
    assert not (tmp_path / "pool").exists()
    with pytest.raises(SsalError, match="meta.json is missing"):
        PoolOutputs.open(tmp_path / "pool")


def test_save_and_open_keep_every_array(tmp_path):
    outputs = simulated_outputs(50, np.random.default_rng(0), mc_passes=3, gradients=True, num_points=True)
    opened = PoolOutputs.open(outputs.save(tmp_path / "pool"))
    assert opened.frame_ids == outputs.frame_ids
    for name, values in outputs.arrays.items():
        np.testing.assert_array_equal(np.asarray(opened.arrays[name]), values)


def test_missing_frames_are_counted_in_the_error():
    outputs = simulated_outputs(5, np.random.default_rng(0))
    with pytest.raises(SsalError, match="2 of 3 unlabelled frames have no predictions here"):
        outputs.positions(["000001", "x", "y"], "unlabelled frames")


def test_missing_optional_arrays_are_named():
    outputs = simulated_outputs(5, np.random.default_rng(0))
    with pytest.raises(SsalError, match="strategy 'badge' needs grad_embeddings"):
        outputs.require(["grad_embeddings"], "strategy 'badge'")


def test_merge_puts_rank_shards_back_in_pool_order(tmp_path):
    outputs = simulated_outputs(20, np.random.default_rng(0))
    shards = [outputs.select(range(0, 20, 2)), outputs.select(range(1, 20, 2))]  # round-robin, as ranks shard
    merged = PoolOutputs.open(merge_outputs(shards, tmp_path / "pool", order=outputs.frame_ids))
    assert merged.frame_ids == outputs.frame_ids
    np.testing.assert_array_equal(np.asarray(merged.scores), outputs.scores)


def test_segment_reductions_handle_empty_frames():
    offsets = np.array([0, 2, 2, 5])  # frame 1 is empty
    values = np.array([1.0, 3.0, 2.0, 4.0, 6.0])
    assert segment_sum(values, offsets).tolist() == [4.0, 0.0, 12.0]
    assert segment_mean(values, offsets).tolist() == [2.0, 0.0, 4.0]
    assert segment_max(values, offsets, empty=-1).tolist() == [3.0, -1.0, 6.0]
    rows = np.arange(10.0).reshape(5, 2)
    np.testing.assert_array_equal(segment_mean(rows, offsets), [[1, 2], [0, 0], [6, 7]])
    labels = np.array([1, 2, 2, 2, 3])
    assert segment_count(values > 1.5, offsets, labels, 3).tolist() == [[0, 1, 0], [0, 0, 0], [0, 2, 1]]
    gathered, new_offsets = gather_rows(offsets, np.array([2, 1, 0]))
    assert gathered.tolist() == [2, 3, 4, 0, 1] and new_offsets.tolist() == [0, 3, 3, 5]
