"""The budget ledger: the initial set, rounds, exact save/load, resuming from any round, and wrong datasets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ssal.active import Budget, DatasetIdentity, Ledger, SimulatedOracle
from ssal.active.ledger import Round
from ssal.active.initial import initial_order, request_initial, select_initial
from ssal.errors import SsalError

CLASSES = ("Car", "Pedestrian", "Cyclist")


def make_pool(num_frames: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [f"{i:06d}" for i in range(num_frames)]
    counts = {f: rng.poisson([3.0, 1.0, 0.3]).tolist() for f in ids}
    oracle = SimulatedOracle(CLASSES, counts)
    ledger = Ledger.create("kitti", "train", CLASSES, ids, denominator=oracle.totals())
    return ledger, oracle


def test_initial_set_stays_within_the_budget_and_repeats_with_its_seed():
    ledger, oracle = make_pool()
    first = select_initial(ledger, oracle, Budget(40), seed=7)
    assert 0 < sum(first.frame_costs()) <= 40
    again, _ = make_pool()
    assert select_initial(again, oracle, Budget(40), seed=7).frames == first.frames
    other, _ = make_pool()
    assert select_initial(other, oracle, Budget(40), seed=8).frames != first.frames


def test_initial_order_does_not_depend_on_the_order_of_the_split_file():
    ids = [f"{i:06d}" for i in range(30)]
    assert initial_order(ids, 3) == initial_order(list(reversed(ids)), 3)


def test_initial_set_stops_at_the_first_frame_that_would_overflow():
    ids = ["a", "b", "c", "d"]
    order = initial_order(ids, 0)
    costs = dict(zip(order, ([2, 0, 0], [5, 0, 0], [1, 0, 0], [1, 0, 0])))
    oracle = SimulatedOracle(CLASSES, costs)
    ledger = Ledger.create("kitti", "train", CLASSES, ids)
    chosen = select_initial(ledger, oracle, Budget(4), seed=0)
    # the 5-box frame does not fit; the cheap frames after it are not taken either
    assert chosen.frames == [order[0]]


def test_a_first_frame_larger_than_the_budget_is_an_error_not_a_selection():
    ids = ["a", "b"]
    oracle = SimulatedOracle(CLASSES, {"a": [9, 0, 0], "b": [9, 0, 0]})
    ledger = Ledger.create("kitti", "train", CLASSES, ids)
    with pytest.raises(SsalError, match="initial set is empty"):
        select_initial(ledger, oracle, Budget(5), seed=0)
    assert ledger.rounds == []


def test_denominator_counts_every_box_of_the_pool_so_shares_are_exact():
    ledger, oracle = make_pool()
    select_initial(ledger, oracle, Budget(40), seed=1)
    total = sum(oracle.totals().values())
    assert ledger.denominator["boxes"] == total
    assert ledger.fraction()["boxes"] == pytest.approx(ledger.spent()["boxes"] / total)
    assert ledger.fraction()["frames"] == pytest.approx(len(ledger.labelled) / 60)


def test_ledger_round_trips_exactly(tmp_path):
    ledger, oracle = make_pool()
    select_initial(ledger, oracle, Budget(40), seed=1)
    oracle.buy(ledger.unlabelled[::-1], ledger, Budget(30), seed=5)
    path = ledger.save(tmp_path / "ledger.json")
    loaded = Ledger.load(path)
    assert loaded.to_dict() == ledger.to_dict()
    assert loaded.to_dict()["rounds"][1]["cumulative"]["boxes"] == ledger.spent()["boxes"]
    assert loaded.labelled == ledger.labelled
    assert loaded.unlabelled == ledger.unlabelled
    assert set(loaded.labelled).isdisjoint(loaded.unlabelled)
    assert len(loaded.labelled) + len(loaded.unlabelled) == 60


def test_a_run_continues_from_any_saved_round(tmp_path):
    ledger, oracle = make_pool()
    select_initial(ledger, oracle, Budget(40), seed=1)
    oracle.buy(ledger.unlabelled, ledger, Budget(30), seed=5)
    oracle.buy(ledger.unlabelled[::-1], ledger, Budget(30), seed=6)
    ledger.save(tmp_path / "ledger.json")

    back = Ledger.load(tmp_path / "ledger.json").at_round(1)
    assert len(back.rounds) == 2
    assert back.labelled == ledger.rounds[0].frames + ledger.rounds[1].frames
    assert set(ledger.rounds[2].frames) <= set(back.unlabelled)
    oracle.buy(back.unlabelled[5:], back, Budget(10), seed=9)  # a different round 2
    assert back.rounds[2].frames != ledger.rounds[2].frames
    with pytest.raises(SsalError, match="no round 3"):
        ledger.at_round(3)


def test_loading_against_other_classes_or_another_pool_names_the_file_and_the_difference(tmp_path):
    ledger, oracle = make_pool()
    select_initial(ledger, oracle, Budget(40), seed=1)
    path = ledger.save(tmp_path / "ledger.json")
    pool = ledger.pool

    with pytest.raises(SsalError, match=r"ledger\.json: .*classes \['Car', 'Pedestrian', 'Cyclist'\].*\['Car'\]"):
        Ledger.load(path, expect=DatasetIdentity.of("kitti", "train", ["Car"], pool))
    with pytest.raises(SsalError, match=r"ledger\.json: this ledger is for another pool: 60 frames.*has 59"):
        Ledger.load(path, expect=DatasetIdentity.of("kitti", "train", CLASSES, pool[:-1]))
    # the dataset's location and split name do not matter, only its frames
    Ledger.load(path, expect=DatasetIdentity.of("kitti", "trainval", CLASSES, list(reversed(pool))))


def test_broken_ledger_files_are_one_line_errors(tmp_path):
    path = tmp_path / "ledger.json"
    path.write_text("{not json")
    with pytest.raises(SsalError, match="ledger.json: not valid JSON"):
        Ledger.load(path)
    path.write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(SsalError, match="not an ssal ledger"):
        Ledger.load(path)
    with pytest.raises(SsalError, match="not found"):
        Ledger.load(tmp_path / "missing.json")


def test_human_initial_set_waits_for_labels_and_blocks_queries():
    ids = [f"{i:06d}" for i in range(20)]
    ledger = Ledger.create("kitti", "train", CLASSES, ids, mode="human")
    with pytest.raises(SsalError, match="--unit frames"):
        request_initial(ledger, Budget(50, "boxes"), seed=0)
    item = request_initial(ledger, Budget(5, "frames"), seed=0)
    assert item.is_pending and len(item.frames) == 5
    assert ledger.labelled == [] and len(ledger.unlabelled) == 15
    with pytest.raises(SsalError, match="waiting for labels"):
        ledger.view()
    ledger.complete_round(0, [[1, 0, 0]] * 5)
    assert ledger.spent()["boxes"] == 5 and ledger.denominator is None
    assert len(ledger.view().labelled) == 5


def test_strategies_see_only_labelled_boxes_through_the_view():
    ledger, oracle = make_pool()
    select_initial(ledger, oracle, Budget(40), seed=1)
    view = ledger.view()
    assert set(view.labelled_boxes) == set(view.labelled)
    assert set(view.unlabelled).isdisjoint(view.labelled_boxes)
    with pytest.raises(TypeError):
        view.labelled_boxes["x"] = (1, 2, 3)  # read-only


# ---------------------------------------------------------------------------------------------- the guards
def bought_round(ledger, frames, index=None, kind="query") -> Round:
    """A complete round buying ``frames`` (one car each), numbered ``index`` (default: the next one)."""
    return Round(index=len(ledger.rounds) if index is None else index, kind=kind, strategy="given order", seed=0,
                 budget=Budget(len(frames)), overshoot="stop_before", frames=list(frames),
                 boxes=[[1, 0, 0] for _ in frames])


def test_a_frame_cannot_be_bought_twice():
    ledger, oracle = make_pool()
    select_initial(ledger, oracle, Budget(40), seed=1)
    owned = ledger.labelled[0]
    with pytest.raises(SsalError, match=rf"round 1 buys frames that are not in the unlabelled pool or twice: {owned}"):
        ledger.add_round(bought_round(ledger, [ledger.unlabelled[0], owned]))
    with pytest.raises(SsalError, match="or twice: a repeated frame"):
        ledger.add_round(bought_round(ledger, [ledger.unlabelled[0]] * 2))
    with pytest.raises(SsalError, match="not in the unlabelled pool"):
        oracle.buy([owned], ledger, Budget(10))
    assert len(ledger.rounds) == 1 and ledger.labelled.count(owned) == 1  # nothing was recorded


def test_rounds_must_come_in_order_and_round_0_is_the_only_initial_one():
    ledger, oracle = make_pool()
    with pytest.raises(SsalError, match="round 0 is the initial set and only round 0"):
        ledger.add_round(bought_round(ledger, ledger.pool[:2]))  # a query round first
    select_initial(ledger, oracle, Budget(40), seed=1)
    with pytest.raises(SsalError, match="round index 2 does not follow round 0"):
        ledger.add_round(bought_round(ledger, ledger.unlabelled[:1], index=2))
    with pytest.raises(SsalError, match="round index 0 does not follow round 0"):
        ledger.add_round(bought_round(ledger, ledger.unlabelled[:1], index=0, kind="initial"))
    with pytest.raises(SsalError, match="round 0 is the initial set and only round 0"):
        ledger.add_round(bought_round(ledger, ledger.unlabelled[:1], kind="initial"))
    assert len(ledger.rounds) == 1


def test_a_file_with_rounds_out_of_order_is_refused(tmp_path):
    ledger, oracle = make_pool()
    select_initial(ledger, oracle, Budget(40), seed=1)
    oracle.buy(ledger.unlabelled, ledger, Budget(10), seed=2)
    oracle.buy(ledger.unlabelled[::-1], ledger, Budget(10), seed=3)
    path = ledger.save(tmp_path / "ledger.json")
    value = json.loads(path.read_text())
    value["rounds"][1], value["rounds"][2] = value["rounds"][2], value["rounds"][1]
    path.write_text(json.dumps(value))
    with pytest.raises(SsalError, match=r"ledger\.json: round index 2 does not follow round 0"):
        Ledger.load(path)


def test_a_round_cannot_be_completed_twice():
    ids = [f"{i:06d}" for i in range(10)]
    ledger = Ledger.create("kitti", "train", CLASSES, ids, mode="human")
    request_initial(ledger, Budget(3, "frames"), seed=0)
    ledger.complete_round(0, [[1, 0, 0], [2, 1, 0], [0, 0, 1]])
    with pytest.raises(SsalError, match="round 0 is already complete"):
        ledger.complete_round(0, [[9, 9, 9]] * 3)
    assert ledger.rounds[0].boxes == [[1, 0, 0], [2, 1, 0], [0, 0, 1]]  # the first labels stand
    assert ledger.spent()["boxes"] == 5


def test_a_hand_edited_pool_no_longer_matches_its_fingerprint(tmp_path):
    ledger, oracle = make_pool()
    select_initial(ledger, oracle, Budget(40), seed=1)
    path = ledger.save(tmp_path / "ledger.json")
    for edit in (lambda pool: pool.append("999999"), lambda pool: pool.pop(), lambda pool: pool.__setitem__(
            len(pool) - 1, "999999")):
        value = json.loads(path.read_text())
        edit(value["pool"])
        tampered = tmp_path / "tampered.json"
        tampered.write_text(json.dumps(value))
        with pytest.raises(SsalError, match=r"tampered\.json: the pool does not match its fingerprint"):
            Ledger.load(tampered)
    Ledger.load(path)  # the untouched file still loads


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_a_ledger_of_another_version_is_refused(tmp_path, version):
    ledger, oracle = make_pool()
    select_initial(ledger, oracle, Budget(40), seed=1)
    path = ledger.save(tmp_path / "ledger.json")
    value = json.loads(path.read_text())
    value["version"] = version
    path.write_text(json.dumps(value))
    with pytest.raises(SsalError, match=rf"ledger\.json: ledger version {version!r}, this ssal reads version 1"):
        Ledger.load(path)
