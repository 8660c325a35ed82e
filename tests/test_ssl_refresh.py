"""The database refresh: stable boxes, one-to-one replacement of stored objects (only by a better box that still
passes tau), dropping what is no longer seen, and a database that changes."""

import numpy as np
import pytest
import torch

from helpers.ssl_fakes import CLASSES, FakeReader, box, frame, predictions
from ssal.geometry import points_in_boxes
from ssal.ssl.database import DatabasePart, build_pool_part
from ssal.ssl.refresh import match_memory, refresh_pool_part, round_for_epoch, stable_scores
from ssal.ssl.thresholds import Thresholds

HIGH = {c: 0.8 for c in CLASSES}
LOW = {c: 0.2 for c in CLASSES}


def test_matching_is_one_to_one_so_one_box_never_replaces_two_stored_objects():
    memory = np.stack([box(10, 0), box(10.3, 0), box(30, 0)])
    new = np.stack([box(10.1, 0), box(50, 0)])
    match, touched = match_memory(memory, new, 0.5)
    assert match.tolist() == [0, -1, -1]  # the closer stored object wins; the other has no box of its own
    assert touched.tolist() == [True, False]


def test_stable_scores_are_those_of_boxes_seen_again():
    old = predictions([("a", np.stack([box(10, 0), box(20, 0, "Pedestrian")]), [0.9, 0.8], ["Car", "Pedestrian"]),
                       ("b", np.zeros((0, 7)), [], [])])
    new = predictions([("a", np.stack([box(10.2, 0), box(30, 0)]), [0.7, 0.95], ["Car", "Car"]),
                       ("b", np.stack([box(10, 0)]), [0.6], ["Car"])])
    stable = stable_scores(new, old, CLASSES, 0.5)
    assert stable["Car"].tolist() == pytest.approx([0.7]) and len(stable["Pedestrian"]) == 0


@pytest.fixture()
def refreshed(tmp_path):
    """Round 0 stores four cars; round 1's predictions re-detect them in every way the rules distinguish."""
    rng = np.random.default_rng(0)
    boxes = [box(8, 0), box(16, 0), box(24, 0), box(32, 0), box(20, 10), box(12, -10)]
    info, points = frame("U0", boxes, ["Car"] * 6, rng)
    reader = FakeReader({"U0": points})
    first = predictions([("U0", np.stack(boxes[:4]), [0.85, 0.9, 0.95, 0.9], ["Car"] * 4)])
    build_pool_part(reader, [info], first, CLASSES, Thresholds(HIGH, LOW), tmp_path / "pool_0", 4)
    moved = [b.copy() for b in boxes]
    for b in moved[:3]:
        b[0] += 0.2  # re-detected a little off, IoU > 0.5
    second = predictions([("U0", np.stack([moved[0], moved[1], moved[2], moved[4], moved[5]]),
                           [0.97, 0.5, 0.99, 0.92, 0.1], ["Car"] * 5)])
    # car 0: higher -> replaced; car 1: lower -> kept; car 2: higher -> replaced, but tau is 0.995 below
    thresholds = Thresholds({"Car": 0.9, "Pedestrian": 0.8, "Cyclist": 0.8}, LOW)
    refresh_pool_part(reader, [info], DatabasePart(tmp_path / "pool_0"), second, CLASSES, thresholds, 0.5,
                      tmp_path / "pool_1", 4)
    return DatabasePart(tmp_path / "pool_0"), DatabasePart(tmp_path / "pool_1"), moved


def test_refresh_replaces_only_by_higher_scores_keeps_lower_drops_unseen_and_adds_new(refreshed):
    before, after, moved = refreshed
    objects = after.objects
    rows = {(round(float(b[0]), 1), round(float(b[1]), 1)): (kind, float(s), str(n))
            for b, kind, s, n in zip(objects["box"], objects["kind"], objects["score"], objects["name"])}
    assert rows[(8.2, 0.0)][:2] == ("pseudo", pytest.approx(0.97))  # replaced by the better match
    assert rows[(16.0, 0.0)][:2] == ("pseudo", pytest.approx(0.9))  # kept: the match scored lower
    assert rows[(24.2, 0.0)][:2] == ("pseudo", pytest.approx(0.99))  # replaced
    assert (32.0, 0.0) not in rows  # not re-detected: dropped
    assert rows[(20.0, 10.0)][:2] == ("pseudo", pytest.approx(0.92))  # new confident box
    assert rows[(12.0, -10.0)] == ("back", pytest.approx(0.1), "BACK_Car")  # new low box
    assert before.num_objects() == 4 and after.num_objects() == 5


def test_a_stored_object_is_not_replaced_by_a_better_box_below_tau(tmp_path):
    rng = np.random.default_rng(0)
    info, points = frame("U0", [box(8, 0)], ["Car"], rng)
    reader = FakeReader({"U0": points})
    build_pool_part(reader, [info], predictions([("U0", np.stack([box(8, 0)]), [0.85], ["Car"])]), CLASSES,
                    Thresholds(HIGH, LOW), tmp_path / "pool_0", 4)
    better_but_below_tau = predictions([("U0", np.stack([box(8.2, 0)]), [0.9], ["Car"])])
    refresh_pool_part(reader, [info], DatabasePart(tmp_path / "pool_0"), better_but_below_tau, CLASSES,
                      Thresholds({c: 0.95 for c in CLASSES}, LOW), 0.5, tmp_path / "pool_1", 4)
    kept = DatabasePart(tmp_path / "pool_1").objects
    assert kept["score"].tolist() == pytest.approx([0.85]) and kept["box"][0][0] == pytest.approx(8.0)


def test_the_refreshed_background_follows_the_new_predictions(refreshed):
    before, after, moved = refreshed

    def inside(part, b):
        points = part.rows(part.backgrounds["start"][0], part.backgrounds["count"][0])
        return int(points_in_boxes(torch.from_numpy(points[:, :3]), torch.from_numpy(b[None])).sum())

    assert inside(before, moved[3]) == 0 and inside(after, moved[3]) >= 40  # no box there any more
    assert inside(before, moved[4]) >= 40 and inside(after, moved[4]) == 0  # a new confident box


def test_epochs_map_to_rounds():
    assert [round_for_epoch(e, 10) for e in (0, 9, 10, 25)] == [0, 0, 1, 2]
    assert round_for_epoch(30, 0) == 0
