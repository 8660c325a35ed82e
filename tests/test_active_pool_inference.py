"""Pool inference: a detector over real KITTI frames into the outputs store, with what each strategy needs, alone
and sharded over two ``torchrun`` ranks. (That the model never receives labels is tested on the real
``ssal query`` path, in test_active_commands.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ssal.active import get_strategy
from ssal.active.pool_inference import InferenceRequest, PoolPredictor, run_pool_inference, strip_labels
from ssal.data.kitti import KittiDataset
from ssal.data.loader import DetectionDataset, collate
from ssal.geometry import count_points_in_boxes
from ssal.models import build_detector, load_model_config

TINY = Path(__file__).resolve().parents[1] / "configs" / "_models" / "tiny.yaml"
SHARDED = """
import sys
from ssal.active.pool_inference import InferenceRequest, PoolPredictor, run_pool_inference, strip_labels
from ssal.data.kitti import KittiDataset
from ssal.data.loader import DetectionDataset, collate
from ssal.engine.distributed import distributed_session
from ssal.models import build_detector, load_model_config

root, config, out = sys.argv[1:4]
cfg = load_model_config(config)
with distributed_session("cpu") as dist:
    reader = KittiDataset(root)
    dataset = DetectionDataset(reader, strip_labels(reader.infos("train", count_points=False)[:2]), cfg.class_names,
                               cfg.point_cloud_range)  # two frames: one per rank
    predictor = PoolPredictor(build_detector(cfg, seed=0), InferenceRequest(mc_passes=2, num_points=True), seed=1)
    run_pool_inference(predictor, dataset, out, cfg.class_names, collate_fn=collate, batch_size=1, dist=dist,
                       progress=False)
"""


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Like the torchrun ranks below (and 10x faster on a busy 2-core machine). Thread counts change float
    rounding, which can swap two RoIs that refine to the same box and so their dropout masks."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pool(kitti_sample, tmp_path_factory):
    cfg = load_model_config(TINY)
    reader = KittiDataset(kitti_sample)
    infos = reader.infos("train", count_points=False)
    dataset = DetectionDataset(reader, strip_labels(infos), cfg.class_names, cfg.point_cloud_range)
    predictor = PoolPredictor(build_detector(cfg, seed=0), InferenceRequest(mc_passes=2, num_points=True), seed=1)
    out = tmp_path_factory.mktemp("pool") / "outputs"
    outputs = run_pool_inference(predictor, dataset, out, cfg.class_names, collate_fn=collate, batch_size=1,
                                 progress=False)
    return outputs, dataset, infos


def test_every_frame_is_stored_with_the_requested_arrays(pool):
    outputs, dataset, infos = pool
    assert outputs.frame_ids == [info.frame_id for info in infos]
    assert set(outputs.arrays) == {"boxes", "scores", "labels", "cls_probs", "roi_features", "mc_boxes", "num_points"}
    assert outputs.roi_features.shape[1] == 256 and outputs.mc_boxes.shape[1:] == (2, 7)
    assert ((outputs.labels >= 1) & (outputs.labels <= 3)).all()
    assert np.all(np.diff(outputs.scores[outputs.rows(0)]) <= 0)  # sorted by score within a frame


def test_point_counts_are_the_points_inside_each_predicted_box(pool):
    outputs, dataset, _ = pool
    item = dataset[0]
    boxes = torch.from_numpy(np.array(outputs.boxes[outputs.rows(0)]))
    expected = count_points_in_boxes(torch.from_numpy(item["points"][:, :3]), boxes).numpy()
    np.testing.assert_array_equal(outputs.num_points[outputs.rows(0)], expected)


def test_dropout_passes_move_the_boxes_and_repeat_under_the_seed(pool, kitti_sample, tmp_path):
    outputs, dataset, _ = pool
    passes = np.asarray(outputs.mc_boxes)
    assert np.abs(passes[:, 0] - passes[:, 1]).max() > 0
    cfg = load_model_config(TINY)
    again = run_pool_inference(PoolPredictor(build_detector(cfg, seed=0), InferenceRequest(mc_passes=2), seed=1),
                               DetectionDataset(dataset.reader, dataset.infos[:2], cfg.class_names,
                                                cfg.point_cloud_range),
                               tmp_path / "again", cfg.class_names, collate_fn=collate, batch_size=1, progress=False)
    rows = slice(0, int(again.offsets[-1]))
    np.testing.assert_array_equal(np.asarray(again.mc_boxes), passes[rows])


def test_each_strategy_asks_for_what_it_reads():
    assert InferenceRequest.for_strategy(get_strategy("entropy")) == InferenceRequest()
    assert InferenceRequest.for_strategy(get_strategy("mc_dropout"), 5).mc_passes == 5
    assert InferenceRequest.for_strategy(get_strategy("badge")).gradients
    assert InferenceRequest.for_strategy(get_strategy("crb")).num_points


def test_two_ranks_write_the_same_store_as_one_process(pool, kitti_sample, tmp_path):
    outputs, _, _ = pool
    script = tmp_path / "sharded.py"
    script.write_text(SHARDED)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={port}", str(script), str(kitti_sample), str(TINY), str(tmp_path / "sharded")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    from ssal.active import PoolOutputs

    sharded = PoolOutputs.open(tmp_path / "sharded")
    assert sharded.frame_ids == outputs.frame_ids[:2]
    np.testing.assert_array_equal(sharded.offsets, outputs.offsets[:3])
    rows = slice(0, int(outputs.offsets[2]))
    for name in ("boxes", "scores", "mc_boxes", "num_points"):
        np.testing.assert_array_equal(np.asarray(sharded.arrays[name]), np.asarray(outputs.arrays[name])[rows])
    assert not list(tmp_path.glob("sharded.rank*"))  # shards merged and removed
