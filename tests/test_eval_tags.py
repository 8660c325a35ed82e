"""AP by tag (``ssal eval kitti --tags``): a frame tag evaluates the frames that carry it, an object tag only the
objects that carry it (the others of those frames neither hit nor miss)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ssal.cli import main
from ssal.data.kitti_label import KittiLabels, format_label_lines
from ssal.errors import SsalError
from ssal.eval import evaluate_kitti
from ssal.eval.tags import evaluate_kitti_by_tag, read_tags


def _cars(xs, score=None) -> KittiLabels:
    """Fully visible cars 20 m ahead at lateral positions ``xs`` (camera x), 2-D boxes 60 px tall."""
    n = len(xs)
    return KittiLabels(
        name=np.array(["Car"] * n, dtype="<U16"), truncated=np.zeros(n), occluded=np.zeros(n, dtype=np.int64),
        alpha=np.zeros(n), bbox=np.array([[580.0 + 40 * x, 150.0, 680.0 + 40 * x, 210.0] for x in xs]).reshape(n, 4),
        dimensions=np.tile([1.5, 1.6, 3.9], (n, 1)), location=np.array([[x, 1.6, 20.0] for x in xs]),
        rotation_y=np.zeros(n), score=None if score is None else np.asarray(score, dtype=np.float64))


TAGS = {
    "000000": {"tags": ["rain"], "weather": "rain", "objects": [[], ["hidden"]]},
    "000001": {"tags": [], "weather": "clear", "objects": [[], []]},
}


def _ap(result_or_table, tag=None):
    """3-D AP R11 Moderate of Car (R40 needs 40 or more objects to be above 0, see ``kitti_ap``)."""
    result = result_or_table[tag]["result"] if tag is not None else result_or_table
    return result["Car"]["3d"]["R11"][1]


def test_an_object_tag_counts_only_its_objects():
    gt = [_cars([-4.0, 4.0]), _cars([-4.0, 4.0])]
    # Detected: the untagged car of frame 0 and both cars of frame 1; the tagged car is missed.
    pred = [_cars([-4.0], [0.9]), _cars([-4.0, 4.0], [0.8, 0.7])]
    table = evaluate_kitti_by_tag(["000000", "000001"], gt, pred, TAGS, classes=["Car"])
    assert table["hidden"]["frames"] == 1 and table["hidden"]["object_tag"]
    assert table["hidden"]["objects"] == {"Car": 1}
    assert _ap(table, "hidden") == 0.0  # the one tagged car was missed
    found = [_cars([4.0], [0.9]), _cars([], [])]
    alone = evaluate_kitti([gt[0].select([1])], [found[0]], classes=["Car"], loose=False)  # by hand: that car only
    table = evaluate_kitti_by_tag(["000000", "000001"], gt, found, TAGS, classes=["Car"], only=["hidden"])
    assert list(table) == ["hidden"] and _ap(table, "hidden") == pytest.approx(_ap(alone)) and _ap(alone) > 0
    # A confident detection of the untagged car is no false positive for the tag: the AP stays the same.
    both = [_cars([-4.0, 4.0], [0.95, 0.9]), _cars([], [])]
    table = evaluate_kitti_by_tag(["000000", "000001"], gt, both, TAGS, classes=["Car"], only=["hidden"])
    assert _ap(table, "hidden") == pytest.approx(_ap(alone))
    wrong = [_cars([4.0, 12.0], [0.9, 0.95]), _cars([], [])]  # a detection where there is nothing is one
    table = evaluate_kitti_by_tag(["000000", "000001"], gt, wrong, TAGS, classes=["Car"], only=["hidden"])
    assert _ap(table, "hidden") < _ap(alone)


def test_a_frame_tag_evaluates_whole_frames():
    gt = [_cars([-4.0, 4.0]), _cars([-4.0, 4.0])]
    pred = [_cars([-4.0, 4.0], [0.9, 0.8]), _cars([], [])]  # frame 1 (clear) gets nothing
    table = evaluate_kitti_by_tag(["000000", "000001"], gt, pred, TAGS, classes=["Car"])
    assert not table["rain"]["object_tag"] and table["rain"]["objects"] == {"Car": 2}
    first = evaluate_kitti(gt[:1], pred[:1], classes=["Car"], loose=False)  # by hand: frame 0 alone
    assert _ap(table, "rain") == pytest.approx(_ap(first)) and _ap(first) > 0
    assert _ap(table, "weather=rain") == pytest.approx(_ap(first))
    assert _ap(table, "weather=clear") == 0.0


def test_a_tags_file_that_does_not_describe_the_frames_is_an_error():
    gt, pred = [_cars([0.0])], [_cars([0.0], [0.5])]
    with pytest.raises(SsalError, match="no entry in the tags file"):
        evaluate_kitti_by_tag(["000007"], gt, pred, TAGS)
    with pytest.raises(SsalError, match="2 object entries for 1 label rows"):
        evaluate_kitti_by_tag(["000000"], gt, pred, TAGS)


def test_command_line_prints_and_writes_the_breakdown(tmp_path, capsys):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    for frame_id, gt, pred in (("000000", _cars([-4.0, 4.0]), _cars([4.0], [0.9])),
                               ("000001", _cars([-4.0, 4.0]), _cars([-4.0, 4.0], [0.8, 0.7]))):
        (tmp_path / "gt" / f"{frame_id}.txt").write_text(format_label_lines(gt))
        (tmp_path / "pred" / f"{frame_id}.txt").write_text(format_label_lines(pred))
    (tmp_path / "tags.json").write_text(json.dumps({"format": "ssal-synth-tags", "version": 1, "frames": TAGS}))
    assert main(["eval", "kitti", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--classes", "Car",
                 "--tags", str(tmp_path / "tags.json"), "--json", str(tmp_path / "out.json")]) == 0
    out = capsys.readouterr().out
    assert "AP by tag" in out and "hidden (objects)" in out
    document = json.loads((tmp_path / "out.json").read_text())
    assert _ap(document["by_tag"], "hidden") > 0 and document["by_tag"]["rain"]["frames"] == 1
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main(["eval", "kitti", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"),
                 "--tags", str(tmp_path / "bad.json")]) == 1
    assert "a tags file needs a 'frames' object" in capsys.readouterr().err
    assert read_tags(tmp_path / "tags.json") == TAGS
