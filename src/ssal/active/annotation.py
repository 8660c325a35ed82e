"""Human annotation: a round that waits for people, and the import of what they labelled.

``request_labels`` turns a ranking into a *pending* round: the frames people should annotate, taken along the
ranking by their *expected* cost (predicted boxes; the true cost is known only after labelling) under the same
stop rule as the oracle. ``import_labels`` reads the label files of those frames (KITTI format,
``LABEL_DIR/<frame id>.txt``), records each frame's boxes per class and completes the round. Every requested
frame must be there: a missing one is an error listing how many and which, and nothing is recorded.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ssal.active.budget import Budget
from ssal.active.ledger import Ledger, Round
from ssal.active.oracle import Oracle, Overshoot, nothing_bought, walk_ranking
from ssal.data.kitti_label import read_label_file
from ssal.errors import SsalError, warn


class LabelFileOracle(Oracle):
    """Reveals boxes per class from KITTI label files ``label_dir/<frame id>.txt``."""

    def __init__(self, label_dir: str | os.PathLike, classes):
        self.label_dir = Path(label_dir)
        self.classes = tuple(classes)
        if not self.label_dir.is_dir():
            raise SsalError("label folder not found", self.label_dir)

    def path(self, frame_id: str) -> Path:
        return self.label_dir / f"{frame_id}.txt"

    def missing(self, frame_ids) -> list[str]:
        return [f for f in frame_ids if not self.path(f).is_file()]

    def reveal(self, frame_id: str) -> tuple[int, ...]:
        labels = read_label_file(self.path(frame_id), with_score=False)
        return tuple(int(np.sum(labels.name == c)) for c in self.classes)


def request_labels(ranking, ledger: Ledger, budget: Budget, overshoot: Overshoot = "stop_before",
                   seed: int | None = None) -> Round:
    """Add a pending round: the frames of ``ranking`` to annotate, by expected cost under ``budget``.

    In boxes, every frame is priced at least one box: a frame where the model predicts nothing still has to be
    looked at, and pricing it 0 would let a round request the whole pool (a budget of B boxes asks for at most
    B frames this way). When most requested frames had no predicted box, a warning says the predictions were
    too sparse to price the round."""
    expected = {f: price_frame(float(c)) for f, c in zip(ranking.frame_ids, ranking.expected_cost)}
    walk = walk_ranking(ranking.frame_ids, expected.__getitem__, budget, overshoot)
    position = {f: i for i, f in enumerate(ranking.frame_ids)}
    scores = [None if np.isnan(ranking.uncertainty[position[f]]) else float(ranking.uncertainty[position[f]])
              for f in walk.frames]
    notes = ["chosen by expected cost (predicted boxes, at least 1 per frame); the true cost is recorded by "
             "import-labels"]
    where = ledger.path or "ledger"
    unpriced = sum(1 for f in walk.frames if float(ranking.expected_cost[position[f]]) <= 0)
    if budget.unit == "boxes" and walk.frames and 2 * unpriced > len(walk.frames):
        notes.append(f"{unpriced} of the {len(walk.frames)} requested frames have no predicted box: the "
                     "predictions are too sparse to price the round, each was priced at 1 box (the true cost may "
                     "be far higher; a better model, or --unit frames, prices better)")
        warn(notes[-1], where)
    nothing = nothing_bought(walk, ranking.frame_ids, budget, expected.__getitem__)
    if nothing:
        notes.append(nothing)
        warn(nothing, where)
    item = Round(index=len(ledger.rounds), kind="query" if ledger.rounds else "initial", strategy=ranking.strategy,
                 seed=seed if seed is not None else ranking.seed, budget=budget, overshoot=overshoot,
                 frames=walk.frames, boxes=None, scores=scores, expected_costs=walk.costs, status="pending",
                 notes=notes)
    return ledger.add_round(item)


def price_frame(expected: float) -> float:
    """A frame's price when people annotate: its expected cost, at least one box (or one frame)."""
    return max(expected, 1.0)


def import_labels(ledger: Ledger, label_dir: str | os.PathLike) -> Round:
    """Complete the ledger's pending round from the label files in ``label_dir``."""
    item = ledger.pending
    if item is None:
        raise SsalError("no round is waiting for labels", ledger.path or "ledger")
    oracle = LabelFileOracle(label_dir, ledger.classes)
    missing = oracle.missing(item.frames)
    if missing:
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        raise SsalError(f"{len(missing)} of the {len(item.frames)} frames of round {item.index} have no label file "
                        f"<frame id>.txt here: {shown}", label_dir)
    boxes = [oracle.reveal(f) for f in item.frames]
    return ledger.complete_round(item.index, boxes)
