"""The CPSP database: what goes into backgrounds, pseudo and BACK objects; files that move, resist kills and say
their version; nothing in it comes from the pool's labels."""

import ast
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.ssl_fakes import CLASSES, FakeReader, box, frame, predictions
from ssal.errors import SsalError
from ssal.geometry import points_in_boxes
from ssal.ssl.database import (
    CpspDatabase,
    DatabasePart,
    PartWriter,
    build_labelled_part,
    build_pool_part,
    clear_partial,
    is_complete,
)
from ssal.ssl.thresholds import Thresholds

SSL = Path(__file__).resolve().parents[1] / "src" / "ssal" / "ssl"
HIGH = {"Car": 0.8, "Pedestrian": 0.7, "Cyclist": 0.7}
LOW = {c: 0.2 for c in CLASSES}


@pytest.fixture()
def world():
    """Two labelled frames and one unlabelled frame with five predictions of every kind."""
    rng = np.random.default_rng(0)
    labelled = [frame("L0", [box(10, 0), box(20, 5, "Pedestrian")], ["Car", "Pedestrian"], rng),
                frame("L1", [box(15, -4, "Cyclist"), box(25, 8, "Van")], ["Cyclist", "Van"], rng)]
    boxes = [box(8, 3, heading=0.4), box(16, -6), box(24, 2, "Pedestrian"), box(30, -9, "Cyclist"), box(35, 10)]
    names = ["Car", "Car", "Pedestrian", "Cyclist", "Car"]
    # clusters in the first four boxes only: the last prediction holds no point
    info, points = frame("U0", boxes[:4], names[:4], rng)
    unlabelled = [(info, points)]
    scores = [0.95, 0.5, 0.15, 0.9, 0.1]  # pseudo, uncertain, BACK, pseudo, empty
    reader = FakeReader({i.frame_id: p for i, p in labelled + unlabelled})
    preds = predictions([("U0", np.stack(boxes), scores, names)])
    return reader, [i for i, _ in labelled], [info], preds, np.stack(boxes), np.array(scores)


def build(world, tmp_path):
    reader, labelled, unlabelled, preds, _, _ = world
    root = tmp_path / "database"
    build_labelled_part(reader, labelled, CLASSES, root / "labelled", 4)
    build_pool_part(reader, unlabelled, preds, CLASSES, Thresholds(HIGH, LOW), root / "pool_0", 4)
    return root


def test_pool_frame_gives_pseudo_and_back_objects_by_the_threshold_rules(world, tmp_path):
    root = build(world, tmp_path)
    part = DatabasePart(root / "pool_0")
    objects = part.objects
    assert list(zip(objects["name"], objects["kind"])) == [("Car", "pseudo"), ("Cyclist", "pseudo"),
                                                           ("BACK_Pedestrian", "back")]
    assert objects["score"].tolist() == pytest.approx([0.95, 0.9, 0.15])  # 0.5 is uncertain, 0.1 has no point
    assert part.manifest["objects"] == {"pseudo": {"Car": 1, "Cyclist": 1}, "back": {"BACK_Pedestrian": 1}}
    assert part.manifest["thresholds"]["high"] == HIGH


def test_no_background_point_lies_inside_a_box_scoring_above_lambda(world, tmp_path):
    _, _, _, _, boxes, scores = world
    root = build(world, tmp_path)
    database = CpspDatabase.open(root, 0)
    frame_id, background, _ = database.background(database.num_backgrounds() - 1)
    assert frame_id == "U0"
    inside = points_in_boxes(torch.from_numpy(background[:, :3]), torch.from_numpy(boxes)).numpy()
    assert not inside[:, scores > 0.2].any()  # confident and uncertain regions both left
    assert inside[:, 2].sum() == 40  # the BACK box (0.15 <= lambda) keeps its points in the background


def test_objects_are_stored_box_centred_and_backgrounds_of_labelled_frames_hold_no_labelled_object(world, tmp_path):
    reader, labelled, _, _, boxes, _ = world
    root = build(world, tmp_path)
    database = CpspDatabase.open(root, 0, min_points={c: 5 for c in CLASSES})
    car = database.object("Car", 1)  # index 0 is L0's GT car, 1 the pseudo car of U0
    assert car.kind == "pseudo" and np.allclose(car.box, boxes[0])
    restored = car.points[:, :3] + car.box[:3]
    assert points_in_boxes(torch.from_numpy(restored), torch.from_numpy(car.box[None])).all()
    assert sorted(database.pools) == ["BACK_Pedestrian", "Car", "Cyclist", "Pedestrian"]  # no Van object
    for index in range(2):
        frame_id, background, plane = database.background(index)
        info = labelled[index]
        assert not points_in_boxes(torch.from_numpy(background[:, :3]),
                                   torch.from_numpy(info.annos.gt_boxes_lidar)).any()  # Van removed too
        assert plane is not None and abs(plane[3] / plane[2] - 1.7) < 0.05  # ground fit z = -1.7


def test_database_loads_after_the_folder_is_moved(world, tmp_path):
    root = build(world, tmp_path)
    before = CpspDatabase.open(root, 0).object("Cyclist", 1).points
    moved = tmp_path / "elsewhere" / "db"
    shutil.move(str(root), moved)
    after = CpspDatabase.open(moved, 0).object("Cyclist", 1).points
    assert np.array_equal(before, after)


def test_parts_are_read_lazily_and_pickle_without_their_points(world, tmp_path):
    root = build(world, tmp_path)
    database = CpspDatabase.open(root, 0)
    assert all(part._points is None for part in database.parts)  # nothing read yet
    database.background(0)
    assert isinstance(database.parts[0]._points, np.memmap)
    assert len(pickle.dumps(database)) < 20_000  # loader workers get tables, not point clouds


def test_a_part_killed_mid_write_is_invisible_and_rebuilt(world, tmp_path):
    reader, labelled, *_ = world
    folder = tmp_path / "database" / "labelled"
    writer = PartWriter(folder, 4)
    writer.add_background("x", np.zeros((3, 4), np.float32), None)  # ... and the process dies here
    assert not is_complete(folder) and folder.with_name("labelled.partial").is_dir()
    clear_partial(folder)
    build_labelled_part(reader, labelled, CLASSES, folder, 4)
    assert is_complete(folder) and not folder.with_name("labelled.partial").exists()
    assert DatabasePart(folder).num_backgrounds() == 2


def test_a_database_of_another_format_version_is_refused_by_name(world, tmp_path):
    root = build(world, tmp_path)
    manifest = root / "pool_0" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"version": 1', '"version": 0', 1))
    with pytest.raises(SsalError, match="pool_0/manifest.json: CPSP database format version 0"):
        CpspDatabase.open(root, 0)


def test_the_pool_part_does_not_depend_on_labels_the_pool_frames_may_carry(world, tmp_path):
    reader, labelled, unlabelled, preds, _, _ = world
    from ssal.active.pool_inference import strip_labels

    assert unlabelled[0].annos is not None and len(unlabelled[0].annos) == 4
    out = []
    for infos in (unlabelled, strip_labels(unlabelled)):
        folder = tmp_path / f"p{len(out)}"
        build_pool_part(reader, infos, preds, CLASSES, Thresholds(HIGH, LOW), folder, 4)
        out.append(((folder / "points.bin").read_bytes(), DatabasePart(folder).objects))
    assert out[0][0] == out[1][0]
    assert all(np.array_equal(out[0][1][k], out[1][1][k]) for k in out[0][1])


@pytest.mark.parametrize("name", ["database.py", "pool.py", "refresh.py", "pseudo_scene.py", "mixed_dataset.py",
                                  "thresholds.py"])
def test_nothing_that_builds_or_trains_imports_the_label_readers(name):
    tree = ast.parse((SSL / name).read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    forbidden = {"ssal.ssl.quality", "ssal.active.oracle", "ssal.active.annotation", "ssal.active.workflow"}
    assert not modules & forbidden


def test_scenes_draw_positives_with_enough_points_and_a_known_difficulty_only(tmp_path):
    writer = PartWriter(tmp_path / "labelled", 4)
    writer.add_background("a", np.zeros((20, 4), np.float32), None)
    for points, difficulty in ((40, 0), (3, 0), (40, -1)):
        writer.add_object("Car", "gt", box(10, 0), np.zeros((points, 4), np.float32), 1.0, "a", difficulty)
    writer.add_object("BACK_Car", "back", box(20, 0), np.zeros((1, 4), np.float32), 0.1, "a")
    writer.close({})
    database = CpspDatabase.open(tmp_path, None, min_points={"Car": 5})
    assert database.pool_size("Car") == 1 and database.pool_size("BACK_Car") == 1
